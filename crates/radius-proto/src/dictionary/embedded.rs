//! The `dictionaries/` folder compiled into the binary, so the server runs without it.
//!
//! `$INCLUDE` lines resolve against this table by path relative to the including file,
//! exactly as on disk.

use std::path::Path;

use super::DictError;
use super::parser::{Files, resolve};

/// The top-level file.
pub(super) const ROOT: &str = "dictionary";

/// Every file of `dictionaries/`, by name. A unit test checks the folder has no others.
pub(super) const FILES: &[(&str, &str)] = &[
    ("dictionary", include_str!("../../dictionaries/dictionary")),
    (
        "dictionary.hotspot-radius",
        include_str!("../../dictionaries/dictionary.hotspot-radius"),
    ),
    (
        "dictionary.microsoft",
        include_str!("../../dictionaries/dictionary.microsoft"),
    ),
    (
        "dictionary.mikrotik",
        include_str!("../../dictionaries/dictionary.mikrotik"),
    ),
    (
        "dictionary.rfc2865",
        include_str!("../../dictionaries/dictionary.rfc2865"),
    ),
    (
        "dictionary.rfc2866",
        include_str!("../../dictionaries/dictionary.rfc2866"),
    ),
    (
        "dictionary.rfc2867",
        include_str!("../../dictionaries/dictionary.rfc2867"),
    ),
    (
        "dictionary.rfc2868",
        include_str!("../../dictionaries/dictionary.rfc2868"),
    ),
    (
        "dictionary.rfc2869",
        include_str!("../../dictionaries/dictionary.rfc2869"),
    ),
    (
        "dictionary.rfc3162",
        include_str!("../../dictionaries/dictionary.rfc3162"),
    ),
    (
        "dictionary.rfc3576",
        include_str!("../../dictionaries/dictionary.rfc3576"),
    ),
    (
        "dictionary.rfc4818",
        include_str!("../../dictionaries/dictionary.rfc4818"),
    ),
    (
        "dictionary.rfc5176",
        include_str!("../../dictionaries/dictionary.rfc5176"),
    ),
    (
        "dictionary.rfc5580",
        include_str!("../../dictionaries/dictionary.rfc5580"),
    ),
    (
        "dictionary.rfc6911",
        include_str!("../../dictionaries/dictionary.rfc6911"),
    ),
    (
        "dictionary.wispr",
        include_str!("../../dictionaries/dictionary.wispr"),
    ),
];

/// The embedded file set.
pub(super) struct EmbeddedFiles;

impl Files for EmbeddedFiles {
    fn open(&mut self, from: &str, target: &str) -> Result<Option<(String, String)>, DictError> {
        let path = resolve(Path::new(from), target);
        let name = path.to_string_lossy();
        let name = name.strip_prefix("./").unwrap_or(&name);
        Ok(FILES
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(file, text)| ((*file).to_owned(), (*text).to_owned())))
    }
}
