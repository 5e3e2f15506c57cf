//! The names users pick: architecture (`ModelType`) and size (`Variant`), parsed with errors that
//! list the valid names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// An architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    CnnLstm,
    AttentionLstm,
    Tcn,
    TcnAttention,
    Lstm,
}

/// A size of an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Lightweight,
    Default,
    Deep,
}

impl ModelType {
    pub const ALL: [ModelType; 5] = [
        Self::CnnLstm,
        Self::AttentionLstm,
        Self::Tcn,
        Self::TcnAttention,
        Self::Lstm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CnnLstm => "cnn_lstm",
            Self::AttentionLstm => "attention_lstm",
            Self::Tcn => "tcn",
            Self::TcnAttention => "tcn_attention",
            Self::Lstm => "lstm",
        }
    }

    /// Whether the architecture has a multi-head attention layer (and so attention weights).
    pub fn has_attention(self) -> bool {
        matches!(self, Self::AttentionLstm | Self::TcnAttention)
    }
}

impl Variant {
    pub const ALL: [Variant; 3] = [Self::Lightweight, Self::Default, Self::Deep];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lightweight => "lightweight",
            Self::Default => "default",
            Self::Deep => "deep",
        }
    }
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|&t| name(t)).collect::<Vec<_>>().join(", ")
}

impl FromStr for ModelType {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| ModelError::UnknownModelType {
                given: s.to_string(),
                valid: names(&Self::ALL, Self::as_str),
            })
    }
}

impl FromStr for Variant {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| ModelError::UnknownVariant {
                given: s.to_string(),
                valid: names(&Self::ALL, Self::as_str),
            })
    }
}

impl fmt::Display for ModelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_strings_and_serde() {
        for t in ModelType::ALL {
            assert_eq!(t.as_str().parse::<ModelType>().unwrap(), t);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        for v in Variant::ALL {
            assert_eq!(v.as_str().parse::<Variant>().unwrap(), v);
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let e = "transformer".parse::<ModelType>().unwrap_err().to_string();
        assert!(
            e.contains("transformer")
                && e.contains("cnn_lstm, attention_lstm, tcn, tcn_attention, lstm"),
            "{e}"
        );
        let e = "huge".parse::<Variant>().unwrap_err().to_string();
        assert!(
            e.contains("huge") && e.contains("lightweight, default, deep"),
            "{e}"
        );
    }
}
