pub mod bench;
pub mod check;
pub mod doctor;
pub mod fetch;
pub mod parity;
pub mod replay;
pub mod search;
pub mod up;
