//! What the configuration file may contain, read from the serde definitions themselves:
//! the sections, the keys of each, the values of each enum, and the default values. The
//! checks use it to suggest the nearest key for a typo; the tests use it to hold
//! `docs/configuration.md` and the example file to the structs, so neither can drift.

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::{
    AccountingConfig, AdminConfig, CacheConfig, Config, DatabaseConfig, LogConfig, NasConfig,
    PostAuthConfig, RadsecConfig, RedisConfig, ServerConfig, SessionsConfig,
};

/// The commented default configuration that `hotspot-radius config --print-default`
/// prints: `config/hotspot-radius.example.toml`, every key with its default (keys that are
/// unset by default, and the `[[nas]]` entry, commented out). Loading it gives
/// `Config::default()`; the tests hold it to that.
pub const DEFAULT_TOML: &str = include_str!("../../config/hotspot-radius.example.toml");

/// One section of the file: `[name]`, or `[[name]]` when `array`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section name (`server`, `nas`).
    pub name: &'static str,
    /// An array of tables (`[[nas]]`) rather than one table.
    pub array: bool,
    /// Its keys, in declaration order.
    pub keys: &'static [&'static str],
}

impl Section {
    /// `[name]` or `[[name]]`, as written in the file.
    pub fn header(&self) -> String {
        if self.array {
            format!("[[{}]]", self.name)
        } else {
            format!("[{}]", self.name)
        }
    }
}

/// Every section of the file, in declaration order, with its keys.
pub fn sections() -> Vec<Section> {
    names_of::<Config>()
        .iter()
        .map(|&name| Section {
            name,
            array: name == "nas",
            keys: section_keys(name).unwrap_or_default(),
        })
        .collect()
}

/// The keys of one section; `None` for a name that is not a section.
pub fn section_keys(section: &str) -> Option<&'static [&'static str]> {
    Some(match section {
        "server" => names_of::<ServerConfig>(),
        "radsec" => names_of::<RadsecConfig>(),
        "admin" => names_of::<AdminConfig>(),
        "database" => names_of::<DatabaseConfig>(),
        "redis" => names_of::<RedisConfig>(),
        "cache" => names_of::<CacheConfig>(),
        "accounting" => names_of::<AccountingConfig>(),
        "postauth" => names_of::<PostAuthConfig>(),
        "sessions" => names_of::<SessionsConfig>(),
        "log" => names_of::<LogConfig>(),
        "nas" => names_of::<NasConfig>(),
        _ => return None,
    })
}

/// The field names of a struct, or the variant names of an enum, as the file spells them
/// (after `rename_all`). Empty for any other type.
pub fn names_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = Probe::default();
    // The probe always fails once it has seen the names; the error carries nothing.
    let _ = T::deserialize(&mut probe);
    probe.names.unwrap_or_default()
}

/// The default configuration as a TOML table; keys unset by default are absent, and
/// `nas` holds one `[[nas]]` entry of defaults (its required keys empty).
pub fn default_table() -> toml::Table {
    let config = Config {
        nas: vec![NasConfig::default()],
        ..Config::default()
    };
    // Every config type serializes to TOML (tested), so this cannot fail; an empty table
    // would fail those tests loudly rather than panic here.
    toml::Table::try_from(config).unwrap_or_default()
}

/// The default of one key (`None` when it is unset by default).
pub fn default_value(section: &str, key: &str) -> Option<toml::Value> {
    let table = default_table();
    let value = table.get(section)?;
    let entry = match value {
        toml::Value::Array(entries) => entries.first()?,
        other => other,
    };
    entry.get(key).cloned()
}

/// The known key nearest to `typo` among `known`: one or two edits away (a swap of two
/// neighbouring letters is one), or the one key `typo` is a clear prefix of, or the one
/// key with the same stem and another unit (`dedup_ttl_secs` for `dedup_ttl_ms`).
pub fn nearest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    let typo = typo.trim().to_ascii_lowercase().replace('-', "_");
    if typo.is_empty() {
        return None;
    }
    let by_distance = known
        .iter()
        .map(|k| (edit_distance(&typo, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d);
    if let Some((_, key)) = by_distance {
        return Some(key);
    }
    if typo.len() >= 3 {
        let prefixed: Vec<&str> = known
            .iter()
            .copied()
            .filter(|k| k.starts_with(&typo))
            .collect();
        if let [only] = prefixed[..] {
            return Some(only);
        }
    }
    let stem = strip_unit(&typo);
    let same_stem: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| stem.len() >= 3 && strip_unit(k) == stem)
        .collect();
    match same_stem[..] {
        [only] => Some(only),
        _ => None,
    }
}

/// A key without its unit suffix (`_ms`, `_secs`, `_bytes`, …).
fn strip_unit(key: &str) -> &str {
    const UNITS: [&str; 9] = [
        "_ms", "_msec", "_millis", "_secs", "_sec", "_seconds", "_s", "_bytes", "_days",
    ];
    UNITS
        .iter()
        .find_map(|u| key.strip_suffix(u))
        .unwrap_or(key)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbouring characters each cost one.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back, one back, current.
    let mut two_back: Vec<usize> = vec![0; b.len() + 1];
    let mut one_back: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut best = (one_back[j] + cost)
                .min(one_back[j + 1] + 1)
                .min(current[j] + 1);
            if i > 0 && j > 0 && a[i - 1] == cb && ca == b[j - 1] {
                best = best.min(two_back[j - 1] + 1);
            }
            current[j + 1] = best;
        }
        std::mem::swap(&mut two_back, &mut one_back);
        std::mem::swap(&mut one_back, &mut current);
    }
    one_back[b.len()]
}

/// A deserializer that records the field (or variant) names serde's derive hands it, then
/// stops: the schema of a type without building a value.
#[derive(Default)]
struct Probe {
    names: Option<&'static [&'static str]>,
}

/// The probe's only error: "stop here".
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("schema probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Self
    }
}

impl<'de> de::Deserializer<'de> for &mut Probe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.names = Some(fields);
        Err(Stop)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.names = Some(variants);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MessageAuthenticatorPolicy, PostAuthLog};

    #[test]
    fn sections_and_keys_come_from_the_structs() {
        let all = sections();
        let names: Vec<&str> = all.iter().map(|s| s.name).collect();
        assert_eq!(names.first(), Some(&"server"));
        assert!(names.contains(&"nas"));
        for section in &all {
            assert!(
                !section.keys.is_empty(),
                "section `{}` of Config has no keys here: add it to section_keys()",
                section.name
            );
        }
        let server = section_keys("server").unwrap();
        assert!(server.contains(&"receivers") && server.contains(&"dictionary"));
        assert_eq!(section_keys("nope"), None);
        assert_eq!(
            names_of::<MessageAuthenticatorPolicy>(),
            ["require", "auto", "off"]
        );
        assert_eq!(names_of::<PostAuthLog>(), ["all", "rejects", "off"]);
        assert!(names_of::<u32>().is_empty());
    }

    #[test]
    fn defaults_serialize_with_unset_keys_absent() {
        let table = default_table();
        for section in sections() {
            assert!(table.contains_key(section.name), "{}", section.name);
        }
        assert_eq!(
            default_value("server", "auth_addr"),
            Some(toml::Value::String("0.0.0.0:1812".into()))
        );
        assert_eq!(
            default_value("nas", "coa_port"),
            Some(toml::Value::Integer(3799))
        );
        assert_eq!(default_value("server", "dictionary"), None);
        assert_eq!(default_value("database", "url"), None);
    }

    #[test]
    fn struct_defaults_are_what_an_empty_section_gives() {
        // The drift tests read defaults from `Default`; a file reads them from serde's
        // `default` attributes. They must agree.
        let empty = toml::Table::new;
        assert_eq!(
            NasConfig::deserialize(toml::Value::Table(empty())).unwrap(),
            NasConfig::default()
        );
        assert_eq!(
            Config::deserialize(toml::Value::Table(empty())).unwrap(),
            Config::default()
        );
        for section in sections().iter().filter(|s| !s.array) {
            let mut one = empty();
            one.insert(section.name.to_owned(), toml::Value::Table(empty()));
            let from_file = Config::deserialize(toml::Value::Table(one)).unwrap();
            assert_eq!(from_file, Config::default(), "[{}]", section.name);
        }
    }

    #[test]
    fn the_default_text_loads_as_the_defaults() {
        let config = Config::from_str_named("default", DEFAULT_TOML).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("receivers", "receivers"), 0);
        assert_eq!(edit_distance("recievers", "receivers"), 1);
        assert_eq!(edit_distance("recevers", "receivers"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn nearest_keys() {
        let server = section_keys("server").unwrap();
        assert_eq!(nearest("recievers", server), Some("receivers"));
        assert_eq!(nearest("auth_adr", server), Some("auth_addr"));
        assert_eq!(nearest("Auth-Addr", server), Some("auth_addr"));
        assert_eq!(nearest("shutdown", server), Some("shutdown_timeout_secs"));
        assert_eq!(nearest("dedup_ttl_secs", server), Some("dedup_ttl_ms"));
        assert_eq!(nearest("colour", server), None);
        // "dedup" is a prefix of two keys: no clear suggestion.
        assert_eq!(nearest("dedup", server), None);
        let root = names_of::<Config>();
        assert_eq!(nearest("sever", root), Some("server"));
        assert_eq!(nearest("sesions", root), Some("sessions"));
    }
}
