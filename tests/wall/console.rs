//! The operator console without egui (`ConsoleCorePlugin` on the shared
//! harness): every form sends its mutation kind with the right target and rev,
//! a bad form names the field and sends nothing, refusals roll back with a
//! toast, and roles are kept.

use bevy::prelude::*;
use vizora::chrome::console::{
    Console, ConsoleForm, ConsoleTab, ScheduleDraft, SubmitForm, TargetKind, fmt_utc, parse_utc,
};
use vizora::sync::fleet::Fleet;
use vizora_client::{Control, Update};
use vizora_protocol::mutation::{MUTATION_KINDS, SchedulePatch};
use vizora_protocol::{AlertState, ContentKind, Mutation, MutationAck, MutationOp, OrgState, RejectCode, Role, now_ms};

use super::harness::Wall;

impl Wall {
    fn view(&self) -> &OrgState {
        self.app.world().resource::<Fleet>().0.view()
    }

    fn console(&self) -> &Console {
        self.app.world().resource::<Console>()
    }

    fn error(&self) -> String {
        self.console().last_error.clone().unwrap_or_default()
    }

    /// The mutations sent to the IO thread since the last call.
    fn mutations(&self) -> Vec<Mutation> {
        self.controls
            .try_iter()
            .filter_map(|c| match c {
                Control::Mutate { mutation, .. } => Some(mutation),
                _ => None,
            })
            .collect()
    }

    /// Submits a form and runs one frame; returns what was sent.
    fn submit(&mut self, form: ConsoleForm) -> Vec<Mutation> {
        self.app.world_mut().write_message(SubmitForm(form));
        self.app.update();
        self.mutations()
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[test]
fn every_form_sends_its_mutation_kind() {
    let mut d = Wall::live(Role::Admin, 24);
    let open: Vec<String> =
        d.view().alerts.values().filter(|a| a.state == AlertState::Open).map(|a| a.id.clone()).collect();
    assert!(open.len() >= 2, "the sample has open alerts: {open:?}");
    let office = d.view().schedules["s-office"].clone();
    let dev = s("dev-00003");
    let draft = ScheduleDraft {
        name: s("Pop-up"),
        playlist: Some(s("p-retail")),
        target_kind: TargetKind::Tag,
        target: s("store"),
        days: [false, true, true, true, true, true, false],
        daily_from: s("09:00"),
        daily_to: s("17:00"),
        ..ScheduleDraft::default()
    };
    let forms: Vec<(ConsoleForm, Option<&str>)> = vec![
        (ConsoleForm::DeviceRename { device: dev.clone(), name: s("Atrium") }, Some("dev-00003")),
        (ConsoleForm::DeviceSetTags { device: dev.clone(), tags: s("lobby, north,,lobby") }, Some("dev-00003")),
        (ConsoleForm::DeviceAssignPlaylist { device: dev.clone(), playlist: Some(s("p-night")) }, Some("dev-00003")),
        (ConsoleForm::DeviceRestart { device: dev.clone() }, Some("dev-00003")),
        (ConsoleForm::DeviceRemove { device: s("dev-00007") }, Some("dev-00007")),
        (ConsoleForm::DeviceCreate { id: s("dev-spare"), name: s("Spare"), tags: s("spare"), playlist: None }, None),
        (ConsoleForm::PlaylistCreate { name: s("Pop-up") }, None),
        (ConsoleForm::PlaylistRename { playlist: s("p-office"), name: s("Office") }, Some("p-office")),
        (
            ConsoleForm::PlaylistAddItem {
                playlist: s("p-office"),
                content: s("c00"),
                duration_s: s("12.5"),
                index: s("1"),
            },
            Some("p-office"),
        ),
        (ConsoleForm::PlaylistRemoveItem { playlist: s("p-office"), index: 0 }, Some("p-office")),
        (ConsoleForm::PlaylistMoveItem { playlist: s("p-office"), from: 0, to: 2 }, Some("p-office")),
        (ConsoleForm::PlaylistDelete { playlist: s("p-transit") }, Some("p-transit")),
        (
            ConsoleForm::ContentCreate {
                name: s("Lunch menu"),
                kind: ContentKind::Web,
                uri: s("https://cdn.example.com/menu"),
                duration_s: s("20"),
                size_bytes: s("2048"),
            },
            None,
        ),
        (
            ConsoleForm::ContentUpdate { content: s("c01"), name: s("Hours"), uri: s(""), duration_s: s("") },
            Some("c01"),
        ),
        (ConsoleForm::ContentDelete { content: s("c09") }, Some("c09")),
        (ConsoleForm::ScheduleCreate(draft), None),
        (
            ConsoleForm::ScheduleUpdate {
                schedule: s("s-office"),
                draft: ScheduleDraft { priority: s("7"), ..ScheduleDraft::from_schedule(&office) },
            },
            Some("s-office"),
        ),
        (ConsoleForm::ScheduleSetEnabled { schedule: s("s-night"), enabled: false }, Some("s-night")),
        (ConsoleForm::ScheduleDelete { schedule: s("s-vip") }, Some("s-vip")),
        (ConsoleForm::AlertAck { alert: open[0].clone() }, Some(open[0].as_str())),
        (ConsoleForm::AlertResolve { alert: open[1].clone() }, Some(open[1].as_str())),
        (ConsoleForm::AlertMute { alert: open[0].clone(), minutes: s("60") }, Some(open[0].as_str())),
    ];
    let mut kinds = Vec::new();
    for (form, target) in forms {
        let kind = form.kind();
        let rev = form.target().and_then(|(k, id)| d.view().rev(k, id));
        let sent = d.submit(form);
        let [m] = sent.as_slice() else { panic!("{kind}: one mutation sent, got {sent:?} ({:?})", d.error()) };
        assert_eq!(m.op.kind_name(), kind);
        assert_eq!(m.target.as_deref(), target, "{kind}");
        assert_eq!(m.base_rev, rev.filter(|_| m.op.checks_rev()), "{kind}: the rev the console saw");
        assert_eq!(d.console().last_error, None, "{kind}");
        assert_eq!(d.console().last_sent, Some(format!("{kind} sent")));
        match &m.op {
            MutationOp::DeviceSetTags { tags } => assert_eq!(tags, &["lobby", "north"]),
            MutationOp::PlaylistAddItem { content_id, duration_s, index } => {
                assert_eq!((content_id.as_str(), *duration_s, *index), ("c00", 12.5, Some(1)));
            }
            MutationOp::ContentUpdate { name, uri, duration_s } => {
                assert_eq!((name.as_deref(), uri, duration_s), (Some("Hours"), &None, &None), "empty = unchanged");
            }
            MutationOp::ScheduleCreate(f) => {
                assert_eq!(f.days, Some(vec![1, 2, 3, 4, 5]));
                assert_eq!((f.daily_from.as_deref(), f.daily_to.as_deref()), (Some("09:00"), Some("17:00")));
                assert!(f.start_ms.abs_diff(now_ms()) < 60_000, "empty start = now");
            }
            MutationOp::ScheduleUpdate(p) => {
                assert_eq!(p, &SchedulePatch { priority: Some(7), ..SchedulePatch::default() }, "only what changed");
            }
            MutationOp::AlertMute { until_ms } => assert!(until_ms.abs_diff(now_ms() + 3_600_000) < 60_000),
            _ => {}
        }
        kinds.push(kind);
    }
    // Shown at once (optimistic).
    assert_eq!(d.view().devices["dev-00003"].name, "Atrium");
    assert!(!d.view().devices.contains_key("dev-00007"));
    let mut all = MUTATION_KINDS.to_vec();
    all.sort_unstable();
    kinds.sort_unstable();
    assert_eq!(kinds, all, "every kind exactly once");
}

#[test]
fn a_bad_form_names_the_field_and_sends_nothing() {
    let mut d = Wall::live(Role::Operator, 12);
    let content = |duration: &str| ConsoleForm::ContentCreate {
        name: s("Menu"),
        kind: ContentKind::Image,
        uri: s("https://cdn.example.com/m.png"),
        duration_s: duration.into(),
        size_bytes: s(""),
    };
    let draft = ScheduleDraft {
        name: s("Late"),
        playlist: Some(s("p-night")),
        target: s("lobby"),
        daily_from: s("25:00"),
        daily_to: s("06:00"),
        ..ScheduleDraft::default()
    };
    let cases: Vec<(ConsoleForm, &str)> = vec![
        (content("abc"), "duration_s: must be a number"),
        (content("-1"), "duration_s:"),
        (ConsoleForm::DeviceRename { device: s("dev-00001"), name: s("  ") }, "name: must not be empty"),
        (ConsoleForm::DeviceRename { device: s("dev-gone"), name: s("X") }, "target:"),
        (ConsoleForm::DeviceSetTags { device: s(""), tags: s("a") }, "target:"),
        (ConsoleForm::ScheduleCreate(draft.clone()), "daily_from:"),
        (ConsoleForm::ScheduleCreate(ScheduleDraft { daily_from: s(""), start: s("tomorrow"), ..draft }), "start_ms:"),
        (ConsoleForm::ScheduleCreate(ScheduleDraft::default()), "name:"),
        (ConsoleForm::AlertMute { alert: s("a-fw"), minutes: s("soon") }, "until_ms:"),
        (ConsoleForm::ContentUpdate { content: s("c01"), name: s(""), uri: s(""), duration_s: s("") }, "args:"),
        // Stricter than the protocol, which takes both: an empty uri, an end before the start.
        (
            ConsoleForm::ContentCreate {
                name: s("Menu"),
                kind: ContentKind::Image,
                uri: s("  "),
                duration_s: s("10"),
                size_bytes: s(""),
            },
            "uri: must not be empty",
        ),
        (
            ConsoleForm::ScheduleCreate(ScheduleDraft {
                name: s("Late"),
                playlist: Some(s("p-night")),
                target: s("lobby"),
                start: s("2026-12-08 10:00"),
                end: s("2026-12-08 09:00"),
                ..ScheduleDraft::default()
            }),
            "end_ms: must not be before",
        ),
        (
            ConsoleForm::PlaylistAddItem {
                playlist: s("p-office"),
                content: s("c00"),
                duration_s: s("ten"),
                index: s(""),
            },
            "duration_s: must be a number",
        ),
    ];
    for (form, want) in cases {
        let kind = form.kind();
        let sent = d.submit(form);
        assert!(sent.is_empty(), "{kind}: nothing sent, got {sent:?}");
        let err = d.error();
        assert!(err.starts_with(want), "{kind}: `{err}` should start with `{want}`");
        assert_eq!(d.console().last_sent, None);
    }
    // Valid args the view refuses (an index out of range): not sent either, and said why.
    let sent = d.submit(ConsoleForm::PlaylistRemoveItem { playlist: s("p-office"), index: 99 });
    assert!(sent.is_empty(), "{sent:?}");
    d.frames(1);
    let err = d.error();
    assert!(err.contains("playlist.remove_item refused") && err.contains("index"), "{err}");
    assert!(d.mutations().is_empty());
}

#[test]
fn a_refused_change_rolls_back_with_the_reason() {
    let mut d = Wall::live(Role::Operator, 12);
    let before = d.view().devices["dev-00003"].name.clone();
    let sent = d.submit(ConsoleForm::DeviceRename { device: s("dev-00003"), name: s("Atrium") });
    let [m] = sent.as_slice() else { panic!("one mutation sent: {sent:?}") };
    assert_eq!(d.view().devices["dev-00003"].name, "Atrium", "optimistic");
    d.send(Update::Acked {
        mutation_id: m.mutation_id.clone(),
        ack: MutationAck::rejected(RejectCode::Invalid, "name: is reserved"),
    });
    d.frames(2);
    assert_eq!(d.view().devices["dev-00003"].name, before, "rolled back");
    let toasts = d.toasts();
    let said = |t: &String| t.starts_with("device.rename dev-00003 rolled back") && t.contains("name: is reserved");
    assert!(toasts.iter().any(said), "{toasts:?}");
}

#[test]
fn operators_cannot_send_admin_kinds_and_viewers_nothing() {
    let mut d = Wall::live(Role::Operator, 12);
    for form in [
        ConsoleForm::DeviceRemove { device: s("dev-00002") },
        ConsoleForm::PlaylistDelete { playlist: s("p-office") },
        ConsoleForm::DeviceCreate { id: s(""), name: s("Spare"), tags: s(""), playlist: None },
    ] {
        let kind = form.kind();
        assert!(d.submit(form).is_empty(), "{kind}");
        assert_eq!(d.error(), format!("{kind} needs the admin role"));
    }
    assert!(d.view().devices.contains_key("dev-00002") && d.view().playlists.contains_key("p-office"));
    assert_eq!(d.submit(ConsoleForm::DeviceRestart { device: s("dev-00002") }).len(), 1, "operators operate");
    d.press(KeyCode::F2);
    assert!(d.console().open, "F2 opens the console for operators");
    d.press(KeyCode::F2);
    assert!(!d.console().open);

    let mut v = Wall::live(Role::Viewer, 12);
    assert!(v.submit(ConsoleForm::DeviceRename { device: s("dev-00001"), name: s("Mine") }).is_empty());
    assert_eq!(v.error(), "viewers cannot change anything");
    assert_ne!(v.view().devices["dev-00001"].name, "Mine");
    v.press(KeyCode::F2);
    assert!(!v.console().open, "viewers get no console");
}

#[test]
fn forms_cover_every_kind_and_times_read_back_as_written() {
    let per_tab: usize = ConsoleTab::ALL.iter().map(|t| t.kinds().count()).sum();
    assert_eq!(per_tab, MUTATION_KINDS.len());
    for kind in MUTATION_KINDS {
        let form = ConsoleForm::new(kind, Some("x"), &OrgState::default()).expect(kind);
        assert_eq!(form.kind(), kind);
        assert_eq!(form.target().is_none(), kind.ends_with(".create"), "{kind}");
    }
    assert_eq!(fmt_utc(0), "1970-01-01 00:00");
    for t in ["2024-02-29 23:59", "2000-03-01 00:00", "2038-01-19 03:14"] {
        assert_eq!(parse_utc(t).map(fmt_utc).as_deref(), Some(t));
    }
    assert_eq!(parse_utc("2025-02-30 10:00"), None);
    assert_eq!(parse_utc("2025-01-01 24:00"), None);
    assert_eq!(parse_utc("2025-01-01"), parse_utc("2025-01-01 00:00"));
}
