//! The names of things, declared once for every crate and both doors: architectures
//! (`Architecture`), sizes (`Variant`), candle timeframes, feature sets, devices, symbols and
//! candle sources, each with its list of valid values, its label, its parsing and its serde
//! name. std and serde only, so the wasm UI uses the same types as the engine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not one of the valid ones (or a malformed symbol, source or date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabError {
    /// What was being parsed, e.g. "timeframe".
    pub what: &'static str,
    pub given: String,
    /// What would have been accepted, e.g. "valid timeframes are 1m, 3m, ...".
    pub expected: String,
}

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} {:?}: {}",
            self.what, self.given, self.expected
        )
    }
}

impl std::error::Error for VocabError {}

/// Declares a fieldless enum whose variants have one name each: `ALL`, `as_str`, `FromStr`
/// (listing the valid names on error), `Display` and serde by that name (deserialising
/// reports an unknown name the way parsing does).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, $plural:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// By name, with the same message as parsing (`invalid timeframe "7m": valid ...`).
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            /// Every value, in the order forms list them.
            pub const ALL: [$name; [$($text),+].len()] = [$( $name::$variant ),+];

            /// The name users type and files store.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// "a, b or c": the valid names for messages.
            pub fn names() -> String {
                list_names(Self::ALL.iter().map(|v| v.as_str()))
            }
        }

        impl FromStr for $name {
            type Err = VocabError;
            fn from_str(s: &str) -> Result<Self, VocabError> {
                let s = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| VocabError {
                        what: $what,
                        given: s.to_string(),
                        expected: format!("valid {} are {}", $plural, Self::names()),
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

fn list_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

named_enum! {
    /// A model type: one of the five network families or gradient-boosted trees (its size is
    /// the [`Variant`]).
    Architecture, "architecture", "architectures" {
        CnnLstm => "cnn_lstm",
        AttentionLstm => "attention_lstm",
        Tcn => "tcn",
        TcnAttention => "tcn_attention",
        Lstm => "lstm",
        /// LightGBM trees on a tabular row per window (not a network).
        Gbdt => "gbdt",
        /// A weighted sum of registered versions of one series, horizon and target, made from
        /// them (`Weighting`), never trained itself.
        Ensemble => "ensemble",
    }
}

impl Architecture {
    /// The network families (Burn models, trained by gradient descent), in form order.
    pub const NETWORKS: [Architecture; 5] = [
        Self::CnnLstm,
        Self::AttentionLstm,
        Self::Tcn,
        Self::TcnAttention,
        Self::Lstm,
    ];

    /// What a training run builds, in form order: the networks and the tree model (an
    /// ensemble is made from registered versions instead).
    pub const TRAINABLE: [Architecture; 6] = [
        Self::CnnLstm,
        Self::AttentionLstm,
        Self::Tcn,
        Self::TcnAttention,
        Self::Lstm,
        Self::Gbdt,
    ];

    /// Whether it is a network (not the tree model, not an ensemble).
    pub fn is_network(self) -> bool {
        !matches!(self, Self::Gbdt | Self::Ensemble)
    }

    /// Whether a training run builds it (every architecture but the ensemble).
    pub fn is_trainable(self) -> bool {
        self != Self::Ensemble
    }

    /// Whether the architecture has a multi-head attention layer (and so attention weights).
    pub fn has_attention(self) -> bool {
        matches!(self, Self::AttentionLstm | Self::TcnAttention)
    }

    /// Whether the architecture has recurrent (LSTM) layers.
    pub fn has_lstm(self) -> bool {
        matches!(self, Self::CnnLstm | Self::AttentionLstm | Self::Lstm)
    }
}

named_enum! {
    /// How an ensemble weighs its members' outputs, chosen on the validation split's forecasts
    /// (data no member trained on, and never the test split).
    Weighting, "weighting", "weightings" {
        Equal => "equal",
        Nnls => "nnls",
    }
}

impl Weighting {
    /// One sentence for forms and help.
    pub fn description(self) -> &'static str {
        match self {
            Self::Equal => "every member weighs 1/k",
            Self::Nnls => {
                "non-negative weights that minimise the target's loss on the validation split \
                 (least squares for return and volatility, log loss for direction)"
            }
        }
    }
}

impl Default for Weighting {
    /// Least squares' weights: the stacking the original planned (equal weights are reported
    /// beside them either way).
    fn default() -> Self {
        Self::Nnls
    }
}

named_enum! {
    /// A size of an architecture.
    Variant, "variant", "variants" {
        Lightweight => "lightweight",
        Default => "default",
        Deep => "deep",
    }
}

named_enum! {
    /// A candle timeframe (Binance's fixed-length kline intervals).
    Timeframe, "timeframe", "timeframes" {
        M1 => "1m",
        M3 => "3m",
        M5 => "5m",
        M15 => "15m",
        M30 => "30m",
        H1 => "1h",
        H2 => "2h",
        H4 => "4h",
        H6 => "6h",
        H8 => "8h",
        H12 => "12h",
        D1 => "1d",
    }
}

impl Default for Timeframe {
    /// The bundled sample's timeframe, and the commonest choice.
    fn default() -> Self {
        Self::H1
    }
}

impl Timeframe {
    /// Length of one candle in milliseconds.
    pub fn millis(self) -> i64 {
        const MIN: i64 = 60_000;
        MIN * match self {
            Self::M1 => 1,
            Self::M3 => 3,
            Self::M5 => 5,
            Self::M15 => 15,
            Self::M30 => 30,
            Self::H1 => 60,
            Self::H2 => 120,
            Self::H4 => 240,
            Self::H6 => 360,
            Self::H8 => 480,
            Self::H12 => 720,
            Self::D1 => 1440,
        }
    }

    /// The first open time at or after `t`.
    pub fn ceil(self, t: i64) -> i64 {
        let m = self.millis();
        t.div_euclid(m) * m + if t.rem_euclid(m) == 0 { 0 } else { m }
    }

    /// The open time of the candle containing `t`.
    pub fn floor(self, t: i64) -> i64 {
        t.div_euclid(self.millis()) * self.millis()
    }
}

named_enum! {
    /// Which causal features a model reads.
    FeatureSet, "feature set", "feature sets" {
        /// 5 features: log return, log high/close, log low/close, log1p volume, relative volume.
        Price => "price",
        /// `price` plus SMA ratios, RSI, volatility, ATR and the MACD histogram (12 features).
        Technical => "technical",
        /// `price` plus a causal Daubechies-4 wavelet decomposition (4 levels: details and
        /// smooth) of log returns and of log volume (15 features).
        Wavelet => "wavelet",
        /// As `wavelet` with the Haar filter (15 features).
        WaveletHaar => "wavelet_haar",
        /// `price` plus order flow: the taker-buy share of volume, its deviation from its
        /// 24-bar mean, and trades per unit of volume (8 features; needs candles fetched from
        /// Binance, which carry trade counts and taker-buy volume).
        Flow => "flow",
    }
}

named_enum! {
    /// What a model forecasts about the next h bars.
    Target, "target", "targets" {
        Return => "return",
        Volatility => "volatility",
        Direction => "direction",
    }
}

impl Default for Target {
    /// Today's target, and the one every version registered before targets existed has.
    fn default() -> Self {
        Self::Return
    }
}

impl Target {
    /// One sentence on what a model of this target predicts (the form shows it).
    pub fn description(self) -> &'static str {
        match self {
            Self::Return => "the log return from this close to the close h bars ahead",
            Self::Volatility => {
                "the realised volatility of the next h bars: the square root of the sum of their squared log returns"
            }
            Self::Direction => "the probability that the close h bars ahead is above this close",
        }
    }

    /// The forecast a model's unscaled output stands for: the output itself (a log return),
    /// the exponential of a log realised volatility, or the logistic of a logit.
    pub fn forecast_of_output(self, value: f64) -> f64 {
        match self {
            Self::Return => value,
            Self::Volatility => value.exp(),
            Self::Direction => 1.0 / (1.0 + (-value).exp()),
        }
    }
}

impl Default for FeatureSet {
    /// The CLI's and the training form's default.
    fn default() -> Self {
        Self::Price
    }
}

impl FeatureSet {
    /// Feature names, in column order.
    pub fn feature_names(self) -> Vec<String> {
        let mut names: Vec<String> = [
            "log_return",
            "log_high_close",
            "log_low_close",
            "log1p_volume",
            "log_relative_volume_24",
        ]
        .map(String::from)
        .to_vec();
        match self {
            Self::Price => {}
            Self::Technical => names.extend(
                [
                    "close_sma7",
                    "close_sma14",
                    "close_sma30",
                    "rsi14",
                    "volatility24",
                    "atr14_close",
                    "macd_hist_close",
                ]
                .map(String::from),
            ),
            Self::Wavelet | Self::WaveletHaar => {
                let filter = self.wavelet_filter().unwrap_or_default();
                for input in ["return", "volume"] {
                    for level in 1..=WAVELET_LEVELS {
                        names.push(format!("{filter}_{input}_d{level}"));
                    }
                    names.push(format!("{filter}_{input}_s{WAVELET_LEVELS}"));
                }
            }
            Self::Flow => names.extend(
                [
                    "taker_buy_share",
                    "taker_buy_share_dev_24",
                    "log_trades_per_volume",
                ]
                .map(String::from),
            ),
        }
        names
    }

    /// The wavelet filter's short name (`db4`, `haar`) for the wavelet sets.
    pub fn wavelet_filter(self) -> Option<&'static str> {
        match self {
            Self::Wavelet => Some("db4"),
            Self::WaveletHaar => Some("haar"),
            _ => None,
        }
    }

    /// Whether the set reads Binance's order-flow fields (trade count, taker-buy volume).
    pub fn needs_order_flow(self) -> bool {
        self == Self::Flow
    }

    /// What a feature column is, in words (for the Data screen's preview); empty for a name
    /// that is not a feature.
    pub fn meaning(name: &str) -> &'static str {
        match name {
            "log_return" => "log of close over the previous close",
            "log_high_close" => "log of high over close",
            "log_low_close" => "log of low over close",
            "log1p_volume" => "log(1 + volume)",
            "log_relative_volume_24" => "log(1 + volume) - log(1 + mean volume of 24 bars)",
            "close_sma7" => "close over its 7-bar mean, minus 1",
            "close_sma14" => "close over its 14-bar mean, minus 1",
            "close_sma30" => "close over its 30-bar mean, minus 1",
            "rsi14" => "RSI(14), Wilder smoothing, 0..1",
            "volatility24" => "standard deviation of 24 log returns",
            "atr14_close" => "ATR(14), Wilder smoothing, over close",
            "macd_hist_close" => "MACD(12, 26, 9) histogram over close",
            "taker_buy_share" => "taker-buy volume over volume (0.5 when no volume traded)",
            "taker_buy_share_dev_24" => "taker-buy share minus its 24-bar mean",
            "log_trades_per_volume" => "log(1 + trades) - log(1 + volume)",
            "context_log_return" => "the context market's log return over the same bar",
            "context_log_relative_volume_24" => {
                "the context market's log relative volume over its trailing 24 bars"
            }
            other => wavelet_meaning(other),
        }
    }

    /// Leading rows dropped: the longest trailing window, plus a burn-in for the exponential
    /// averages (RSI, ATR, MACD) whose first values still remember their starting point.
    pub fn warmup_rows(self) -> usize {
        match self {
            Self::Price | Self::Flow => 24,
            Self::Technical => 60,
            // A level-4 coefficient spans (2^4 - 1)(L - 1) + 1 log returns, the first of which
            // needs the candle before it: 46 for Daubechies-4 (L = 4); Haar's 16 is inside the
            // price set's 24.
            Self::Wavelet => 46,
            Self::WaveletHaar => 24,
        }
    }
}

/// The columns a cross-asset context adds after any feature set's, in order.
pub const CONTEXT_FEATURES: [&str; 2] = ["context_log_return", "context_log_relative_volume_24"];

/// Levels of the wavelet sets' decomposition.
pub const WAVELET_LEVELS: u32 = 4;

/// What a wavelet column (`db4_return_d2`, `haar_volume_s4`) is, in words; empty otherwise.
fn wavelet_meaning(name: &str) -> &'static str {
    let mut parts = name.split('_');
    let (Some(filter), Some(input), Some(coefficient), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return "";
    };
    let known_filter = matches!(filter, "db4" | "haar");
    let known_input = matches!(input, "return" | "volume");
    let level = coefficient
        .get(1..)
        .and_then(|l| l.parse::<u32>().ok())
        .filter(|l| (1..=WAVELET_LEVELS).contains(l));
    if !known_filter || !known_input || level.is_none() {
        return "";
    }
    match (input, coefficient.as_bytes()[0]) {
        ("return", b'd') => {
            "causal wavelet detail of log returns at one scale (level j: periods of 2^j to 2^(j+1) bars)"
        }
        ("return", b's') => {
            "causal wavelet smooth of log returns (the trend left after every detail level)"
        }
        ("volume", b'd') => {
            "causal wavelet detail of log(1 + volume) at one scale (level j: periods of 2^j to 2^(j+1) bars)"
        }
        ("volume", b's') => "causal wavelet smooth of log(1 + volume)",
        _ => "",
    }
}

named_enum! {
    /// Where a model trains: what the user asked for (default `auto`).
    #[derive(Default)]
    DeviceChoice, "device", "devices" {
        /// A hardware GPU when one exists, else the CPU; never a software GPU adapter.
        #[default]
        Auto => "auto",
        Gpu => "gpu",
        Cpu => "cpu",
    }
}

/// A trading pair such as `BTCUSDT`: 1 to 20 of `A-Z 0-9 - _ .`, at least one letter, stored
/// upper-cased. (No `/`, so a symbol is a safe path component.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Symbol {
    /// `BTCUSDT`, the bundled sample's pair.
    fn default() -> Self {
        Self("BTCUSDT".into())
    }
}

impl FromStr for Symbol {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, VocabError> {
        let upper = s.trim().to_ascii_uppercase();
        let bad = |why: &str| VocabError {
            what: "symbol",
            given: s.to_string(),
            expected: why.to_string(),
        };
        if upper.is_empty() || upper.len() > 20 {
            return Err(bad("a symbol has 1 to 20 characters, e.g. BTCUSDT"));
        }
        if !upper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "a symbol has only letters, digits, '-', '_' and '.', e.g. BTCUSDT",
            ));
        }
        if !upper.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(bad("a symbol needs letters, e.g. BTCUSDT"));
        }
        Ok(Self(upper))
    }
}

impl TryFrom<String> for Symbol {
    type Error = VocabError;
    fn try_from(s: String) -> Result<Self, VocabError> {
        s.parse()
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where candles come from: `binance` (through the candle store), `sample` (the bundled BTCUSDT
/// 1h candles) or `csv:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CandleSource {
    Binance,
    Sample,
    /// A candle CSV file.
    Csv(String),
}

impl CandleSource {
    /// The sources a form offers (`csv:PATH` needs a file chosen elsewhere).
    pub const CHOICES: &'static [CandleSource] = &[CandleSource::Sample, CandleSource::Binance];
}

impl FromStr for CandleSource {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, VocabError> {
        match s.trim() {
            "binance" => Ok(Self::Binance),
            "sample" => Ok(Self::Sample),
            other => match other.strip_prefix("csv:") {
                Some(path) if !path.is_empty() => Ok(Self::Csv(path.to_string())),
                _ => Err(VocabError {
                    what: "source",
                    given: s.to_string(),
                    expected: "valid sources are binance, sample or csv:PATH".into(),
                }),
            },
        }
    }
}

impl TryFrom<String> for CandleSource {
    type Error = VocabError;
    fn try_from(s: String) -> Result<Self, VocabError> {
        s.parse()
    }
}

impl From<CandleSource> for String {
    fn from(s: CandleSource) -> String {
        s.to_string()
    }
}

impl fmt::Display for CandleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binance => f.write_str("binance"),
            Self::Sample => f.write_str("sample"),
            Self::Csv(p) => write!(f, "csv:{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_through_strings_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy
                + PartialEq
                + fmt::Debug
                + fmt::Display
                + FromStr
                + Serialize
                + for<'a> Deserialize<'a>,
            <T as FromStr>::Err: fmt::Debug,
        {
            for v in all {
                assert_eq!(v.to_string().parse::<T>().unwrap(), *v);
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(json, format!("\"{v}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
            }
        }
        check(&Architecture::ALL);
        assert!(Architecture::NETWORKS.iter().all(|a| a.is_network()));
        assert_eq!(
            Architecture::NETWORKS.len() + 1,
            Architecture::TRAINABLE.len()
        );
        assert_eq!(Architecture::TRAINABLE.len() + 1, Architecture::ALL.len());
        assert!(Architecture::TRAINABLE.iter().all(|a| a.is_trainable()));
        assert!(!Architecture::Ensemble.is_network() && !Architecture::Ensemble.is_trainable());
        check(&Variant::ALL);
        check(&Timeframe::ALL);
        check(&FeatureSet::ALL);
        check(&Target::ALL);
        check(&DeviceChoice::ALL);
    }

    #[test]
    fn every_feature_column_has_a_meaning() {
        for set in FeatureSet::ALL {
            for name in set.feature_names() {
                assert!(!FeatureSet::meaning(&name).is_empty(), "{name}");
            }
        }
        assert_eq!(FeatureSet::meaning("open"), "");
        for name in CONTEXT_FEATURES {
            assert!(!FeatureSet::meaning(name).is_empty(), "{name}");
        }
        for not_a_column in [
            "db4_return_d5",
            "haar_price_d1",
            "db4_return",
            "db8_volume_s4",
        ] {
            assert_eq!(FeatureSet::meaning(not_a_column), "", "{not_a_column}");
        }
        assert_eq!(FeatureSet::Wavelet.feature_names().len(), 15);
        assert_eq!(FeatureSet::Flow.feature_names().len(), 8);
        assert_eq!(FeatureSet::WaveletHaar.feature_names()[5], "haar_return_d1");
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let e = "gru".parse::<Architecture>().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid architecture \"gru\": valid architectures are cnn_lstm, attention_lstm, tcn, tcn_attention, lstm, gbdt or ensemble"
        );
        assert!(
            "2h30"
                .parse::<Timeframe>()
                .unwrap_err()
                .to_string()
                .contains("1m, 3m")
        );
    }

    #[test]
    fn symbols_are_validated_and_upper_cased() {
        assert_eq!("btcusdt".parse::<Symbol>().unwrap().as_str(), "BTCUSDT");
        for bad in ["", "BTC/USDT", "..", "12345", "A".repeat(21).as_str()] {
            assert!(bad.parse::<Symbol>().is_err(), "{bad:?}");
        }
        let s: Symbol = serde_json::from_str("\"ethusdt\"").unwrap();
        assert_eq!(s.as_str(), "ETHUSDT");
        assert!(serde_json::from_str::<Symbol>("\"a b\"").is_err());
    }

    #[test]
    fn sources_parse_and_print() {
        for s in ["binance", "sample", "csv:/tmp/x.csv"] {
            assert_eq!(s.parse::<CandleSource>().unwrap().to_string(), s);
        }
        assert!("csv:".parse::<CandleSource>().is_err());
        assert!("kraken".parse::<CandleSource>().is_err());
    }

    #[test]
    fn timeframes_know_their_length() {
        assert_eq!(Timeframe::H1.millis(), 3_600_000);
        assert_eq!(Timeframe::H4.floor(5 * 3_600_000 + 1), 4 * 3_600_000);
        assert_eq!(Timeframe::H1.ceil(3_600_001), 7_200_000);
    }
}
