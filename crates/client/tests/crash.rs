//! A client process killed (SIGKILL) with mutations queued while the gateway
//! is down: a new process on the same store restores and delivers them.
//!
//! The killed process is this test binary run again with [`ROLE`] set, so
//! only `child_main` does anything in it.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Gateway, Watched, client_config, create_playlist, ctx, token};
use vizora_client::Update;
use vizora_protocol::{MutationAck, Role};

const ROLE: &str = "VIZORA_CLIENT_TEST_ROLE";
const LONG: Duration = Duration::from_secs(60);
/// Mutations the child makes; it is killed once this many are reported queued.
const MADE: usize = 400;
const KILL_AFTER: usize = 200;

fn id(i: usize) -> String {
    format!("k{i:04}")
}

/// The child: queues [`MADE`] mutations, prints each `Queued`, then waits to be killed.
#[test]
fn child_main() {
    if std::env::var(ROLE).as_deref() != Ok("queue") {
        return; // a no-op in a normal test run
    }
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} set by the parent"));
    let store = std::path::PathBuf::from(var("VIZORA_TEST_STORE"));
    let client = vizora_client::spawn(client_config(&var("VIZORA_TEST_URL"), var("VIZORA_TEST_TOKEN"), Some(&store)))
        .expect("client");
    for i in 0..MADE {
        let m = create_playlist(&id(i), "wall-k", &format!("pl-{i}"));
        client.control(vizora_client::Control::Mutate { mutation: m, ctx: ctx("kim", &id(i)) });
    }
    for u in client.updates.iter() {
        if let Update::Queued { mutation_id } = u {
            println!("QUEUED {mutation_id}");
        }
    }
}

#[test]
fn a_killed_client_delivers_its_queued_mutations_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("wall.db");
    let mut gw = Gateway::start(&dir.path().join("gw"));
    gw.stop();

    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "child_main", "--nocapture", "--test-threads=1"])
        .env(ROLE, "queue")
        .env("VIZORA_TEST_STORE", &store)
        .env("VIZORA_TEST_URL", gw.url())
        .env("VIZORA_TEST_TOKEN", token(Role::Operator, "kim"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness may have begun the line ("test child_main ... ").
            if let Some((_, id)) = line.split_once("QUEUED ") {
                let _ = tx.send(id.to_owned());
            }
        }
    });
    let mut reported = Vec::new();
    while reported.len() < KILL_AFTER {
        match rx.recv_timeout(LONG) {
            Ok(id) => reported.push(id),
            Err(e) => {
                let _ = child.kill();
                panic!("child reported {} queued, then {e}", reported.len());
            }
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    gw.restart();
    let mut wall = Watched::spawn(client_config(&gw.url(), token(Role::Operator, "kim"), Some(&store)));
    wall.until("the restored outbox", LONG, |w| w.restored.is_some());
    let (pending, _) = wall.restored.clone().expect("restored");
    let restored: Vec<String> = pending.iter().map(|q| q.mutation.mutation_id.clone()).collect();
    assert!(restored.len() >= KILL_AFTER, "everything reported queued survived: {} of {KILL_AFTER}", restored.len());
    let expected: Vec<String> = (0..restored.len()).map(id).collect();
    assert_eq!(restored, expected, "in the order made, nothing torn");
    assert_eq!(reported, expected[..reported.len()], "reported queued in order");
    assert_eq!(pending[0].ctx, ctx("kim", &id(0)), "each with its context");

    let n = restored.len();
    wall.until("every restored mutation decided", LONG, |w| w.acks.len() >= n);
    wall.until("their mutation.applied entries", LONG, |w| w.applied_ids("wall-k").len() >= n);
    assert!(wall.acks.iter().all(|(_, a)| matches!(a, MutationAck::Applied { .. })), "{:?}", &wall.acks[..3]);
    assert_eq!(wall.applied_ids("wall-k"), expected, "each applied exactly once, in order");
}
