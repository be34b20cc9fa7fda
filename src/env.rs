//! Values the configuration is made of, shared by every module's own config type: the
//! environment snapshot, secrets that never print, and strings YAML may have typed as
//! scalars. The bottom of the module order: it depends on nothing in the crate.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A snapshot of the process environment, so loading is deterministic and testable.
pub type Env = HashMap<String, String>;

/// A secret from the configuration (an API key). It never prints: `Debug` and
/// serialisation (`dra config show`) show `[REDACTED]`, like the log scrubber.
#[derive(Clone)]
pub struct Secret(pub secrecy::SecretString);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: &str) -> Secret {
        Secret(secrecy::SecretString::from(value.to_string()))
    }

    /// The secret itself, for a request header only.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }

    /// `None` for an empty secret (`api_key: ${KEY:-}` with the variable unset).
    pub fn non_empty(self) -> Option<Secret> {
        (!self.expose().trim().is_empty()).then_some(self)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Interpolation re-reads values as YAML scalars, so an all-digit key is a number.
        Ok(Secret::new(&StringLike::deserialize(d)?.0))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

/// Strings that YAML (or interpolation) may have typed as numbers or booleans, e.g. a
/// database called `2024`.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(StringLike::deserialize(d)?.0)
}

/// Optional strings that YAML may have typed as scalars; empty means absent.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringLike>::deserialize(d)?
        .map(|s| s.0)
        .filter(|s| !s.is_empty()))
}

struct StringLike(String);

impl<'de> Deserialize<'de> for StringLike {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            F(f64),
            B(bool),
        }
        Raw::deserialize(d)
            .map(|r| {
                StringLike(match r {
                    Raw::S(s) => s,
                    Raw::I(i) => i.to_string(),
                    Raw::F(f) => f.to_string(),
                    Raw::B(b) => b.to_string(),
                })
            })
            .map_err(|_| serde::de::Error::custom("expected a string"))
    }
}
