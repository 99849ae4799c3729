//! Keyspace and expiry commands.
use super::Command;
pub const COMMANDS: &[Command] = &[];
