//! A set of entity keys that answers for a borrowed id, so a log entry can
//! be checked against it without allocating.

use std::collections::BTreeSet;

use vizora_protocol::EntityKind;

/// Entity keys, one id set per kind (indexed by `kind as usize`, which is
/// [`EntityKind::ALL`] order); iterates in `(kind, id)` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeySet([BTreeSet<String>; 5]);

impl KeySet {
    /// Whether the set holds `kind`/`id`.
    pub(crate) fn contains(&self, kind: EntityKind, id: &str) -> bool {
        self.0[kind as usize].contains(id)
    }

    /// Adds `kind`/`id`.
    pub(crate) fn insert(&mut self, kind: EntityKind, id: &str) {
        let ids = &mut self.0[kind as usize];
        if !ids.contains(id) {
            ids.insert(id.to_owned());
        }
    }

    /// Every key, in `(kind, id)` order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (EntityKind, &str)> {
        EntityKind::ALL.into_iter().flat_map(|kind| self.0[kind as usize].iter().map(move |id| (kind, id.as_str())))
    }
}

impl<'a> Extend<(EntityKind, &'a str)> for KeySet {
    fn extend<I: IntoIterator<Item = (EntityKind, &'a str)>>(&mut self, keys: I) {
        for (kind, id) in keys {
            self.insert(kind, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_iterate_in_snapshot_order_and_answer_for_borrowed_ids() {
        let mut keys = KeySet::default();
        keys.extend([(EntityKind::Alert, "a1"), (EntityKind::Device, "d2"), (EntityKind::Device, "d1")]);
        keys.insert(EntityKind::Device, "d1");
        assert!(keys.contains(EntityKind::Device, "d2") && !keys.contains(EntityKind::Playlist, "d2"));
        let order: Vec<(EntityKind, &str)> = keys.iter().collect();
        assert_eq!(order, [(EntityKind::Device, "d1"), (EntityKind::Device, "d2"), (EntityKind::Alert, "a1")]);
    }
}
