//! Subcommands.
pub mod denoise;
