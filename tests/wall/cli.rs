//! `vizora get`, `vizora mutate` and `vizora device provision`: the binary as
//! a script runs it, against an embedded gateway, with the server and token
//! from the environment or a config file; exit codes by outcome.

use std::process::{Command, Output};

use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Role, now_ms};

const SECRET: &[u8] = b"cli-secret";

fn admin_token() -> String {
    let claims =
        Claims { sub: "alice".into(), org: "acme".into(), role: Role::Admin, exp: now_ms() / 1000 + 600, iat: None };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

fn vizora(env: &[(&str, &str)], args: &[&str]) -> Output {
    // No config file of the user's: HOME and XDG_CONFIG_HOME point at an empty directory.
    let home = std::env::temp_dir().join("vizora-cli-test-home");
    let _ = std::fs::create_dir_all(&home);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vizora"));
    cmd.args(args)
        .env_remove("VIZORA_SERVER")
        .env_remove("VIZORA_TOKEN")
        .env_remove("VIZORA_CONFIG")
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run vizora")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_cli_provisions_changes_and_lists_over_the_http_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = GatewayConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().join("data"), ..Default::default() };
    let gw = Embedded::start(cfg, Auth::hs256(SECRET)).expect("gateway");
    let server = format!("http://{}", gw.addr);
    let token = admin_token();
    let env = [("VIZORA_SERVER", server.as_str()), ("VIZORA_TOKEN", token.as_str())];

    let o = vizora(&env, &["device", "provision", "--name", "Door", "--tag", "lobby", "--id", "door-1"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).starts_with("device_id door-1\ntoken ey"), "{}", stdout(&o));

    let o = vizora(&env, &["mutate", "device.rename", "--target", "door-1", "--base-rev", "1", "--arg", "name=Door A"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).starts_with("applied door-1 rev 2 at seq "), "{}", stdout(&o));
    // The same base rev again is a conflict: exit 1, with the entity now.
    let o = vizora(&env, &["mutate", "device.rename", "--target", "door-1", "--base-rev", "1", "--arg", "name=Door B"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stdout(&o).contains("rejected conflict") && stdout(&o).contains("Door A"), "{}", stdout(&o));

    let o = vizora(&env, &["get", "devices", "--tag", "lobby"]);
    assert!(o.status.success(), "{o:?}");
    let table = stdout(&o);
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("door-1  Door A  unknown  lobby")), "{table}");
    let o = vizora(&env, &["get", "device", "door-1", "--json"]);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(d["rev"], 2);

    // The same from a config file instead of the environment.
    let file = dir.path().join("cli.ron");
    std::fs::write(&file, format!("(server: \"{server}\", token: \"{token}\")")).expect("write");
    let o = vizora(&[], &["get", "devices", "--json", "--config", file.to_str().expect("utf-8 path")]);
    assert!(o.status.success(), "{o:?}");
    // A broken one names file:line:col; none at all says what is missing.
    std::fs::write(&file, "(server: \"x\",\n tokn: 1)").expect("write");
    let o = vizora(&[], &["get", "devices", "--config", file.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("cli.ron:2:"), "{o:?}");
    let o = vizora(&[], &["get", "devices"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("VIZORA_SERVER"), "{o:?}");
    gw.stop();
}
