//! Generated workloads: a scenario file says what to generate, the generator
//! turns a scenario and a seed into a stream of operations. Pure and
//! deterministic: the same scenario and seed give the same operations, byte for
//! byte, and the stream is produced lazily so memory does not grow with its length.

pub mod faults;
mod generator;
mod scenario;
pub(crate) mod text;

pub use faults::{Fault, FaultKind, FaultSize, FaultTarget};
pub use generator::{Op, OpKind, Workload};
pub use scenario::{
    CheckName, DualWriteMode, OperationMix, Population, Range, RunLength, Scenario, ScenarioError,
    SizeBucket, TextMix,
};
pub use text::{fit_to_bytes, hostile_examples};
