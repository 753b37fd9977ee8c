//! The timed workloads, and how their operations turn into per-unit numbers.

use std::time::Duration;

use crate::Contender;

/// How many units [`Workload::SpawnJoin`] keeps alive at a time: it spawns
/// this many, then joins them all.
pub const SPAWN_BATCH: usize = 10_000;

/// A timed workload, run by every [`Contender`] with its own primitives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Spawn [`SPAWN_BATCH`] units that return at once, then join them all.
    /// One unit is one spawn + join.
    SpawnJoin,
    /// Two units play ping-pong over two bounded channels of capacity 1.
    /// One round trip is two units: each unit is a one-way handoff.
    Handoff,
    /// One unit calls yield in a loop. One unit is one yield.
    Yield,
}

impl Workload {
    /// Every workload, in the order reports list them.
    pub const ALL: [Workload; 3] = [Workload::SpawnJoin, Workload::Handoff, Workload::Yield];

    /// Short name, used as the criterion group name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SpawnJoin => "spawn_join",
            Workload::Handoff => "handoff",
            Workload::Yield => "yield",
        }
    }

    /// One line saying what a unit of this workload is.
    pub fn description(self) -> &'static str {
        match self {
            Workload::SpawnJoin => "spawn+join, 10,000 live",
            Workload::Handoff => "handoff, one way",
            Workload::Yield => "yield",
        }
    }

    /// How many units one operation is.
    pub fn units_per_op(self) -> u64 {
        match self {
            Workload::SpawnJoin => SPAWN_BATCH as u64,
            Workload::Handoff => 2,
            Workload::Yield => 1,
        }
    }

    /// Runs `ops` operations on `contender` and returns the time they took.
    pub fn run(self, contender: &dyn Contender, ops: u64) -> Duration {
        match self {
            Workload::SpawnJoin => contender.spawn_join(ops),
            Workload::Handoff => contender.ping_pong(ops),
            Workload::Yield => contender.yield_loop(ops),
        }
    }

    /// Returns the time `units` units take, for criterion's `iter_custom`.
    ///
    /// Whole operations are run (at least one, enough to cover `units`), and
    /// their time is scaled to exactly `units`: the result is the measured
    /// average per unit, times `units`. Spawn+join thus always has 10,000
    /// units alive, however few units criterion asks for.
    pub fn time_units(self, contender: &dyn Contender, units: u64) -> Duration {
        let ops = units.div_ceil(self.units_per_op()).max(1);
        let elapsed = self.run(contender, ops);
        elapsed.mul_f64(units as f64 / (ops * self.units_per_op()) as f64)
    }
}
