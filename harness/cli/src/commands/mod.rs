pub mod bench;
pub mod check;
pub mod doctor;
pub mod fetch;
pub mod replay;
pub mod up;
