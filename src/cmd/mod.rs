//! Subcommands: each file is one verb of the CLI.
pub mod account;
pub mod answer;
pub mod call;
pub mod demo;
pub mod denoise;
pub mod noise;
pub mod register;
pub mod signals;
