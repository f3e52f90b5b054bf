//! Seeding a scenario over the wire against the real gateway.

mod support;

use std::time::Duration;

use vizora_protocol::{Role, ScheduleTarget, now_ms};
use vizora_sim::scenario::seed::{seed, seed_devices};
use vizora_sim::scenario::{Admin, Provision, Scenario, SeedError};
use vizora_sim::{FaultRates, Fleet};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn the_shipped_scenario_seeds_content_playlists_schedules_and_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = support::gateway(dir.path());
    support::runtime().block_on(async {
        let scenario = support::shipped_scenario();
        let mut admin =
            Admin::connect(&gw.url(), &support::token("acme", Role::Admin, "seeder"), WAIT).await.expect("admin");
        let seeded = seed(&mut admin, &scenario, now_ms()).await.expect("seeded");

        let st = &admin.state;
        assert_eq!(st.contents.len(), scenario.content.len());
        assert_eq!(st.playlists.len(), scenario.playlists.len());
        assert_eq!(st.schedules.len(), scenario.schedules.len());
        for p in &scenario.playlists {
            let pl = &st.playlists[&seeded.playlists[&p.name]];
            let names: Vec<&str> = pl.items.iter().map(|i| st.contents[&i.content_id].name.as_str()).collect();
            let want: Vec<&str> = p.items.iter().map(|i| i.content.as_str()).collect();
            assert_eq!(names, want, "items of {} point at the seeded content, in order", p.name);
        }
        for s in &scenario.schedules {
            let sch = &st.schedules[&seeded.schedules[&s.name]];
            assert_eq!(st.playlists[&sch.playlist_id].name, s.playlist, "{}", s.name);
            assert_eq!((&sch.target, sch.priority, &sch.daily_from), (&s.target, s.priority, &s.daily_from));
        }

        // Players come up, then get their group's tags and playlist.
        let provision = Provision::new(&scenario, &seeded, &admin.state);
        let cfg = support::sim_config(&gw, 10, FaultRates::none());
        let fleet = Fleet::start(cfg);
        let ids: Vec<String> = (0..10).map(|i| format!("player-{i:05}")).collect();
        seed_devices(&mut admin, &provision, &ids, WAIT).await.expect("devices seeded");
        let all_set = |s: &vizora_protocol::OrgState| {
            ids.iter().enumerate().all(|(i, id)| {
                let want = provision.device(id, i, ids.len());
                s.devices.get(id).is_some_and(|d| d.tags == want.tags && d.playlist_id == want.playlist_id)
            })
        };
        assert!(
            admin.wait_until(WAIT, all_set).await.expect("log"),
            "every device carries its group's tags and playlist"
        );
        let lobby = &admin.state.devices["player-00009"];
        assert_eq!(lobby.tags, ["lobby"], "the last tenth are office lobbies");
        assert_eq!(admin.state.playlists[lobby.playlist_id.as_deref().expect("assigned")].name, "Lobby welcome");
        assert!(matches!(&scenario.schedules[3].target, ScheduleTarget::Tag(t) if t == "lobby"));
        fleet.stop().await;
        admin.close().await;
    });
}

#[test]
fn a_rejected_item_fails_the_seeding_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = support::gateway(dir.path());
    support::runtime().block_on(async {
        let scenario = support::shipped_scenario();
        // A viewer may not write: the very first item is refused.
        let mut admin =
            Admin::connect(&gw.url(), &support::token("acme", Role::Viewer, "v"), WAIT).await.expect("admin");
        match seed(&mut admin, &scenario, now_ms()).await {
            Err(SeedError::Rejected { item, code, .. }) => {
                assert_eq!(item, format!("content {:?}", scenario.content[0].name));
                assert_eq!(code, "forbidden");
            }
            other => panic!("expected a rejection naming the item, got {other:?}"),
        }
        // A schedule pointing at a playlist the gateway does not have is refused naming the field.
        let mut admin =
            Admin::connect(&gw.url(), &support::token("acme", Role::Admin, "a"), WAIT).await.expect("admin");
        let text = r#"(content: [(name: "A", kind: image, uri: "u", duration_s: 5, size_bytes: 1)],
        playlists: [(name: "P", items: [(content: "A")])],
        schedules: [(name: "S", playlist: "P", target: tag("t"))])"#;
        let small = Scenario::parse(text, "inline").expect("valid");
        seed(&mut admin, &small, now_ms()).await.expect("seeds");
        let err = admin
            .apply(
                "schedule \"ghost\"",
                "schedule.create",
                None,
                None,
                serde_json::json!({
                    "name": "ghost", "playlist_id": "no-such-playlist", "target": {"tag": "t"}, "start_ms": 0,
                }),
            )
            .await
            .expect_err("dangling playlist");
        let text = err.to_string();
        assert!(text.starts_with("schedule \"ghost\": rejected invalid") && text.contains("playlist_id"), "{text}");
    });
}
