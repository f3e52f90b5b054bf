//! Position tracking and gap detection (PROTOCOL.md §5).

use vizora_protocol::Position;

/// What to do with an arriving entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// The next entry: apply it.
    Apply,
    /// Already applied (`seq` not ahead): skip it.
    Duplicate,
    /// Entries are missing before it: re-subscribe from the last applied position.
    Gap {
        /// Last applied seq.
        have: u64,
        /// The seq that arrived.
        got: u64,
    },
    /// Another epoch: the log was reset; resync from a snapshot.
    NewEpoch,
}

/// The last applied position in one org's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pos: Option<Position>,
}

impl Cursor {
    /// A cursor at `pos` (e.g. restored from disk).
    pub fn at(pos: Option<Position>) -> Self {
        Self { pos }
    }

    /// The position to resume from.
    pub fn position(&self) -> Option<&Position> {
        self.pos.as_ref()
    }

    /// Moves to a snapshot's position.
    pub fn reset(&mut self, epoch: &str, seq: u64) {
        self.pos = Some(Position { epoch: epoch.to_owned(), seq });
    }

    /// Classifies an entry and, for [`Accept::Apply`], advances past it.
    pub fn accept(&mut self, epoch: &str, seq: u64) -> Accept {
        let Some(pos) = &mut self.pos else { return Accept::NewEpoch };
        if pos.epoch != epoch {
            return Accept::NewEpoch;
        }
        if seq <= pos.seq {
            Accept::Duplicate
        } else if seq == pos.seq + 1 {
            pos.seq = seq;
            Accept::Apply
        } else {
            Accept::Gap { have: pos.seq, got: seq }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_entries_apply_and_repeats_are_skipped() {
        let mut c = Cursor::default();
        assert_eq!(c.accept("e1", 1), Accept::NewEpoch, "no position yet: needs a snapshot");
        c.reset("e1", 10);
        assert_eq!(c.accept("e1", 11), Accept::Apply);
        assert_eq!(c.accept("e1", 11), Accept::Duplicate);
        assert_eq!(c.accept("e1", 5), Accept::Duplicate);
        assert_eq!(c.accept("e1", 13), Accept::Gap { have: 11, got: 13 });
        assert_eq!(c.position(), Some(&Position { epoch: "e1".into(), seq: 11 }), "a gap does not move the cursor");
        assert_eq!(c.accept("e2", 12), Accept::NewEpoch);
    }
}
