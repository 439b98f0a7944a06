//! Row operators and value text, as written in the `op` and `value` columns of the
//! FreeRADIUS tables.

/// A row operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `=`: set if not already set (in a check list: a comparison for protocol attributes).
    Eq,
    /// `:=`: set, replacing any earlier value.
    Set,
    /// `+=`: add another value.
    Add,
    /// A comparison against the request.
    Cmp(CmpOp),
}

/// Comparison operators of check items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `=~`.
    RegexMatch,
    /// `!~`.
    RegexNoMatch,
    /// `=*`: the attribute is present.
    Present,
    /// `!*`: the attribute is absent.
    Absent,
}

impl Op {
    /// Parse an operator column (surrounding blanks ignored).
    pub(super) fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "=" => Self::Eq,
            ":=" => Self::Set,
            "+=" => Self::Add,
            "==" => Self::Cmp(CmpOp::Eq),
            "!=" => Self::Cmp(CmpOp::Ne),
            ">" => Self::Cmp(CmpOp::Gt),
            ">=" => Self::Cmp(CmpOp::Ge),
            "<" => Self::Cmp(CmpOp::Lt),
            "<=" => Self::Cmp(CmpOp::Le),
            "=~" => Self::Cmp(CmpOp::RegexMatch),
            "!~" => Self::Cmp(CmpOp::RegexNoMatch),
            "=*" => Self::Cmp(CmpOp::Present),
            "!*" => Self::Cmp(CmpOp::Absent),
            _ => return None,
        })
    }
}

/// How an assignment merges into a list that may already hold the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Merge {
    /// `=`: add only if the attribute is not there yet.
    IfAbsent,
    /// `:=`: replace every earlier instance.
    Replace,
    /// `+=`: always add.
    Append,
}

/// Why a value column could not be taken literally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ValueTextError {
    /// A double-quoted value with `%{...}` expansions (FreeRADIUS xlat), which we do not run.
    Expansion,
    /// A back-quoted value (FreeRADIUS runs it as a program), which we do not run.
    Exec,
}

/// The value column as FreeRADIUS reads it: a value that is *entirely* one quoted string
/// (`"..."` or `'...'`) loses its quotes and has `\\`, `\"`, `\'`, `\n`, `\r`, `\t`
/// unescaped; anything else is taken literally, byte for byte.
pub(super) fn unquote(raw: &str) -> Result<std::borrow::Cow<'_, str>, ValueTextError> {
    use std::borrow::Cow;
    let bytes = raw.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Ok(Cow::Borrowed(raw));
    };
    if first == b'`' && last == b'`' && bytes.len() >= 2 {
        return Err(ValueTextError::Exec);
    }
    if bytes.len() < 2 || !(first == b'"' || first == b'\'') || last != first {
        return Ok(Cow::Borrowed(raw));
    }
    let quote = char::from(first);
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                // A trailing backslash escapes the closing quote: not one quoted string.
                None => return Ok(Cow::Borrowed(raw)),
            },
            // An unescaped quote inside: the value is not one quoted string.
            c if c == quote => return Ok(Cow::Borrowed(raw)),
            c => out.push(c),
        }
    }
    if quote == '"' && out.contains("%{") {
        return Err(ValueTextError::Expansion);
    }
    Ok(Cow::Owned(out))
}

/// Parse a Fall-Through value (`Yes`/`No`, also `1`/`0`, `true`/`false`).
pub(super) fn parse_yes_no(text: &str) -> Option<bool> {
    let t = text.trim();
    if ["yes", "1", "true"]
        .iter()
        .any(|y| t.eq_ignore_ascii_case(y))
    {
        Some(true)
    } else if ["no", "0", "false"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
    {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_parse() {
        assert_eq!(Op::parse(":="), Some(Op::Set));
        assert_eq!(Op::parse(" = "), Some(Op::Eq));
        assert_eq!(Op::parse("+="), Some(Op::Add));
        assert_eq!(Op::parse("=="), Some(Op::Cmp(CmpOp::Eq)));
        assert_eq!(Op::parse("!~"), Some(Op::Cmp(CmpOp::RegexNoMatch)));
        assert_eq!(Op::parse("!*"), Some(Op::Cmp(CmpOp::Absent)));
        assert_eq!(Op::parse("=>"), None);
        assert_eq!(Op::parse(""), None);
        assert_eq!(Op::parse("-="), None);
    }

    #[test]
    fn unquote_follows_freeradius_rules() {
        assert_eq!(unquote("plain").unwrap(), "plain");
        assert_eq!(unquote("\"quoted\"").unwrap(), "quoted");
        assert_eq!(unquote("'single'").unwrap(), "single");
        assert_eq!(unquote(r#""a\"b\\c""#).unwrap(), "a\"b\\c");
        // Not one quoted string: kept literally.
        assert_eq!(unquote(r#""a"b""#).unwrap(), r#""a"b""#);
        assert_eq!(unquote("\"").unwrap(), "\"");
        assert_eq!(unquote("'abc\"").unwrap(), "'abc\"");
        assert_eq!(unquote("").unwrap(), "");
        assert_eq!(unquote("\"%{User-Name}\""), Err(ValueTextError::Expansion));
        assert_eq!(unquote("'%{User-Name}'").unwrap(), "%{User-Name}");
        assert_eq!(unquote("`/bin/true`"), Err(ValueTextError::Exec));
        // Multi-byte text is never split.
        assert_eq!(unquote("\"ñandú\"").unwrap(), "ñandú");
    }

    #[test]
    fn yes_no() {
        assert_eq!(parse_yes_no("Yes"), Some(true));
        assert_eq!(parse_yes_no(" no "), Some(false));
        assert_eq!(parse_yes_no("1"), Some(true));
        assert_eq!(parse_yes_no("maybe"), None);
    }
}
