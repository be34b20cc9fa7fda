//! Queries over the schema, one module per aggregate. Every function takes a connection
//! rather than the pool, so a caller (the CLI's run recorder, a `dra serve` route) can
//! compose several in one transaction.
//!
//! Values stored in varchar columns (roles, statuses) are closed enums here, spelled the
//! way the Python original writes them, so its rows and ours read the same.

pub mod chats;
pub mod claims;
pub mod events;
pub mod feedback;
pub mod jobs;
pub mod messages;
pub mod preferences;
pub mod sessions;
pub mod sources;

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> $name {
                $name(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> $name {
                $name(u)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<$name, uuid::Error> {
                Uuid::parse_str(s.trim()).map($name)
            }
        }
    };
}

id_type!(
    /// A row of `chats`.
    ChatId
);
id_type!(
    /// A row of `messages`.
    MessageId
);
id_type!(
    /// A row of `research_sessions`.
    SessionId
);
