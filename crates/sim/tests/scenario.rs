//! Seeding a scenario over the wire against the real gateway.

mod support;

use std::time::Duration;

use vizora_client::transport::{Incoming, Session};
use vizora_protocol::{
    Event, Events, ExecutionOutcome, LogEntry, Metrics, Role, ScheduleExecuted, ScheduleTarget, Telemetry, now_ms,
};
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

/// Everything a viewer sees from now on: log entries and telemetry. Returns
/// once subscribed; the task ends when `done` holds or after `secs`.
async fn watch(
    url: &str,
    secs: u64,
    done: impl Fn(&[LogEntry], &[Telemetry]) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<(Vec<LogEntry>, Vec<Telemetry>)> {
    let token = support::token("acme", Role::Viewer, "watcher");
    let mut s = Session::connect(url, "/wall", &token, WAIT).await.expect("viewer");
    let id = s.emit_with_ack("subscribe", &serde_json::json!({ "since": null })).await.expect("subscribe");
    while !matches!(s.recv().await.expect("subscribe ack"), Incoming::Ack { id: got, .. } if got == id) {}
    tokio::spawn(async move {
        let (mut entries, mut telemetry) = (Vec::new(), Vec::new());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !done(&entries, &telemetry) {
            match tokio::time::timeout_at(deadline, s.recv()).await {
                Ok(Ok(Incoming::Event { name, arg, .. })) if name == "events" => {
                    entries.extend(serde_json::from_str::<Events>(&arg).expect("events").items);
                }
                Ok(Ok(Incoming::Event { name, arg, .. })) if name == "telemetry" => {
                    telemetry.push(serde_json::from_str(&arg).expect("telemetry"));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("viewer: {e}"),
                Err(_) => break,
            }
        }
        s.close().await;
        (entries, telemetry)
    })
}

fn executed(entries: &[LogEntry]) -> Vec<ScheduleExecuted> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::ScheduleExecuted(x) => Some(x.clone()),
            _ => None,
        })
        .collect()
}

fn playing(telemetry: &[Telemetry], id: &str) -> Option<vizora_protocol::Playing> {
    telemetry.iter().rev().flat_map(|t| &t.devices).find(|d| d.id == id).and_then(|d| d.playing.clone())
}

const CAFES: [&str; 3] = ["player-00000", "player-00001", "player-00002"];
const LOBBIES: [&str; 3] = ["player-00003", "player-00004", "player-00005"];

#[test]
fn players_play_their_winning_schedule_and_report_executing_it() {
    // Windows are left open so the outcome does not hang on the time of day.
    let text = r#"(
        content: [
            (name: "Menu", kind: image, uri: "u1", duration_s: 1, size_bytes: 1),
            (name: "Promo", kind: video, uri: "u2", duration_s: 1, size_bytes: 2),
            (name: "News", kind: web, uri: "u3", duration_s: 1, size_bytes: 0),
        ],
        playlists: [
            (name: "Cafe own", items: [(content: "Menu")]),
            (name: "Promos", items: [(content: "Promo"), (content: "Menu")]),
            (name: "Lobby", items: [(content: "News")]),
        ],
        schedules: [
            (name: "Promos at cafes", playlist: "Promos", target: tag("cafe"), priority: 5),
            (name: "Weaker", playlist: "Lobby", target: tag("cafe"), priority: 1),
            (name: "Lobby from tomorrow", playlist: "Promos", target: tag("lobby"), start_days: 1),
        ],
        groups: [
            (name: "cafes", share: 1.0, tags: ["cafe"], playlist: Some("Cafe own")),
            (name: "lobbies", share: 1.0, tags: ["lobby"], playlist: Some("Lobby")),
        ],
    )"#;
    let scenario = Scenario::parse(text, "inline").expect("valid");
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = support::gateway(dir.path());
    support::runtime().block_on(async {
        // Each cafe executes its winning schedule; telemetry shows every player on its playlist.
        let watcher = watch(&gw.url(), 15, |e, t| {
            let ex = executed(e);
            CAFES.iter().all(|c| ex.iter().any(|x| x.device_id == *c))
                && CAFES.iter().chain(&LOBBIES).all(|d| playing(t, d).is_some())
        })
        .await;
        let cfg = support::sim_config(&gw, 6, FaultRates::none());
        let fleet = Fleet::start_scenario(cfg, &scenario, &support::token("acme", Role::Operator, "seeder"))
            .await
            .expect("scenario starts");
        let (entries, telemetry) = watcher.await.expect("watcher");
        let admin = Admin::connect(&gw.url(), &support::token("acme", Role::Viewer, "v"), WAIT).await.expect("admin");
        let st = &admin.state;
        let playlist = |name: &str| st.playlists.values().find(|p| p.name == name).map(|p| p.id.clone());
        let (promos, lobby) = (playlist("Promos").expect("seeded"), playlist("Lobby").expect("seeded"));
        let winner = st.schedules.values().find(|s| s.name == "Promos at cafes").map(|s| s.id.clone());
        let ex = executed(&entries);
        for c in CAFES {
            let mine: Vec<&ScheduleExecuted> = ex.iter().filter(|x| x.device_id == c).collect();
            assert_eq!(mine.len(), 1, "{c} reports its switch once: {mine:?}");
            assert_eq!((Some(&mine[0].schedule_id), &mine[0].playlist_id), (winner.as_ref(), &promos), "{c}");
            assert_eq!(mine[0].outcome, ExecutionOutcome::Ok);
            assert_eq!(playing(&telemetry, c).map(|p| p.playlist_id), Some(promos.clone()), "{c} plays the promos");
        }
        for l in LOBBIES {
            assert!(ex.iter().all(|x| x.device_id != l), "no schedule applies to {l} yet: nothing executed");
            assert_eq!(
                playing(&telemetry, l).map(|p| p.playlist_id),
                Some(lobby.clone()),
                "{l} plays its own playlist"
            );
        }
        // Playback reports follow the playlists: "Promo" is only on the schedule's playlist, "News" only on the lobbies'.
        let content = |name: &str| st.contents.values().find(|c| c.name == name).map(|c| c.id.clone());
        let (promo, news) = (content("Promo").expect("seeded"), content("News").expect("seeded"));
        let mut s =
            Session::connect(&gw.url(), "/wall", &support::token("acme", Role::Viewer, "m"), WAIT).await.expect("m");
        s.emit_with_ack("subscribe", &serde_json::json!({ "since": null })).await.expect("subscribe");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let played = loop {
            match tokio::time::timeout_at(deadline, s.recv()).await {
                Ok(Ok(Incoming::Event { name, arg, .. })) if name == "metrics" => {
                    let m: Metrics = serde_json::from_str(&arg).expect("metrics");
                    let ids: Vec<String> = m.top_content.into_iter().map(|t| t.content_id).collect();
                    if ids.contains(&promo) && ids.contains(&news) {
                        break ids;
                    }
                }
                Ok(Ok(_)) => {}
                other => panic!("metrics never showed both playlists played: {other:?}"),
            }
        };
        assert!(played.iter().all(|id| st.contents.contains_key(id)), "only seeded content is played: {played:?}");
        s.close().await;
        admin.close().await;
        fleet.stop().await;
    });
}
