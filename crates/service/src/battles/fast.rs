//! A fast path for the common JSONL battle line: one flat object whose values are strings
//! without escapes, numbers, booleans or null.
//!
//! [`parse`] either reads a line exactly as `serde_json` reads it into `RawBattle`, or gives up
//! (`None`) and the caller parses the line with `serde_json`, which then also words the error.
//! It gives up on anything it does not handle itself: escapes, nested objects or arrays
//! (`conv_metadata`), a repeated known key, a known key holding the wrong kind of value, or any
//! doubt about the line's syntax.

/// The fields of one battle line, borrowed from it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Line<'a> {
    pub model_a: &'a str,
    pub model_b: &'a str,
    pub winner: &'a str,
    pub tstamp: Option<f64>,
    pub anony: Option<bool>,
    pub judge: Option<&'a str>,
    pub question_id: Option<&'a str>,
    /// The flat style fields in FastChat's order (tokens, headers, lists, bold for A, then B).
    pub flat: [Option<f64>; 8],
}

/// The flat style fields, in the order of [`Line::flat`].
const FLAT: [&[u8]; 8] = [
    b"sum_assistant_a_tokens",
    b"header_count_a",
    b"list_count_a",
    b"bold_count_a",
    b"sum_assistant_b_tokens",
    b"header_count_b",
    b"list_count_b",
    b"bold_count_b",
];

/// A word with the high bit set in each byte of `w` that is `"`, `\\` or below 0x20 (the
/// classic SWAR tests; bytes at or above 0x80 never match).
#[inline]
fn special(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let quote = zero_byte(w ^ (ONES * b'"' as u64));
    let backslash = zero_byte(w ^ (ONES * b'\\' as u64));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    quote | backslash | control
}

/// A value as the scanner saw it.
enum Value<'a> {
    Str(&'a [u8]),
    Num(f64),
    Bool(bool),
    Null,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Text from the line: every string is checked to be UTF-8 where it is read (the bytes
/// between strings must be JSON's ASCII syntax anyway).
fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The bytes of a string with no escapes and no control characters; the opening quote is
    /// next. They are not yet checked to be UTF-8.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        let bytes = self.bytes;
        // Eight bytes at a time: stop at the first quote, backslash or control character.
        while let Some(word) = bytes.get(self.at..self.at + 8) {
            let hit = special(u64::from_le_bytes(word.try_into().ok()?));
            if hit != 0 {
                self.at += (hit.trailing_zeros() / 8) as usize;
                break;
            }
            self.at += 8;
        }
        loop {
            match *bytes.get(self.at)? {
                b'"' => break,
                b'\\' | 0..0x20 => return None,
                _ => self.at += 1,
            }
        }
        let s = &bytes[start..self.at];
        self.at += 1;
        Some(s)
    }

    /// A number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        let digits = |s: &mut Self| {
            let from = s.at;
            while s.peek().is_some_and(|b| b.is_ascii_digit()) {
                s.at += 1;
            }
            s.at > from
        };
        let _ = self.eat(b'-');
        if self.eat(b'0').is_none() && !digits(self) {
            return None;
        }
        let whole = self.at;
        if self.eat(b'.').is_some() && !digits(self) {
            return None;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let text = &self.bytes[start..self.at];
        let negative = text[0] == b'-';
        let int = &self.bytes[start + usize::from(negative)..whole];
        // Whole numbers of up to 15 digits are exact in f64: no need for the general parser.
        if whole == self.at && int.len() <= 15 {
            let v = int.iter().fold(0u64, |v, b| v * 10 + u64::from(b - b'0')) as f64;
            return Some(if negative { -v } else { v });
        }
        let n: f64 = utf8(text)?.parse().ok()?;
        n.is_finite().then_some(n)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    fn value(&mut self) -> Option<Value<'a>> {
        Some(match self.peek()? {
            b'"' => Value::Str(self.string()?),
            b'-' | b'0'..=b'9' => Value::Num(self.number()?),
            b't' => {
                self.literal(b"true")?;
                Value::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Value::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Value::Null
            }
            // Objects, arrays and anything malformed: the caller's full parser.
            _ => return None,
        })
    }
}

/// The keys the fast path knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    ModelA,
    ModelB,
    Winner,
    Tstamp,
    Anony,
    Judge,
    QuestionId,
    ConvMetadata,
    Flat(usize),
    Other,
}

impl Key {
    /// Which key, looked up by length first.
    fn of(k: &[u8]) -> Self {
        match (k.len(), k) {
            (5, b"anony") => Self::Anony,
            (5, b"judge") => Self::Judge,
            (6, b"winner") => Self::Winner,
            (6, b"tstamp") => Self::Tstamp,
            (7, b"model_a") => Self::ModelA,
            (7, b"model_b") => Self::ModelB,
            (11, b"question_id") => Self::QuestionId,
            (13, b"conv_metadata") => Self::ConvMetadata,
            (12..=22, _) => FLAT
                .iter()
                .position(|f| *f == k)
                .map_or(Self::Other, Self::Flat),
            _ => Self::Other,
        }
    }

    /// A bit of its own, to catch a key given twice.
    fn bit(self) -> u16 {
        match self {
            Self::ModelA => 1,
            Self::ModelB => 1 << 1,
            Self::Winner => 1 << 2,
            Self::Tstamp => 1 << 3,
            Self::Anony => 1 << 4,
            Self::Judge => 1 << 5,
            Self::Flat(i) => 1 << (6 + i),
            Self::QuestionId => 1 << 14,
            Self::ConvMetadata | Self::Other => 0,
        }
    }
}

/// Reads one line, or `None` when it is anything but the simple case (see the module docs).
pub(super) fn parse(line: &[u8]) -> Option<Line<'_>> {
    let mut s = Scanner { bytes: line, at: 0 };
    let mut out = Line::default();
    let (mut a, mut b, mut w) = (false, false, false);
    // Known keys seen so far, to give a repeated one to serde (which rejects it).
    let mut seen = 0u16;
    s.skip_ws();
    s.eat(b'{')?;
    s.skip_ws();
    if s.eat(b'}').is_none() {
        loop {
            s.skip_ws();
            let raw_key = s.string()?;
            let key = Key::of(raw_key);
            if key == Key::Other {
                utf8(raw_key)?;
            }
            if seen & key.bit() != 0 {
                return None;
            }
            seen |= key.bit();
            s.skip_ws();
            s.eat(b':')?;
            s.skip_ws();
            let value = s.value()?;
            match (key, value) {
                (Key::ModelA, Value::Str(v)) => (out.model_a, a) = (utf8(v)?, true),
                (Key::ModelB, Value::Str(v)) => (out.model_b, b) = (utf8(v)?, true),
                (Key::Winner, Value::Str(v)) => (out.winner, w) = (utf8(v)?, true),
                (Key::Tstamp, Value::Num(v)) => out.tstamp = Some(v),
                (Key::Anony, Value::Bool(v)) => out.anony = Some(v),
                (Key::Judge, Value::Str(v)) => out.judge = Some(utf8(v)?),
                (Key::QuestionId, Value::Str(v)) => out.question_id = Some(utf8(v)?),
                (Key::Flat(i), Value::Num(v)) => out.flat[i] = Some(v),
                (
                    Key::Tstamp | Key::Anony | Key::Judge | Key::QuestionId | Key::Flat(_),
                    Value::Null,
                ) => {}
                (Key::Other, Value::Str(v)) => {
                    utf8(v)?;
                }
                (Key::Other, _) => {}
                _ => return None,
            }
            s.skip_ws();
            if s.eat(b',').is_none() {
                s.eat(b'}')?;
                break;
            }
        }
    }
    s.skip_ws();
    (s.at == line.len() && a && b && w).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_simple_line() {
        let line = br#" { "model_a" : "x", "model_b":"y","winner":"tie (bothbad)","tstamp":1.7e9,"anony":true,"judge":null,"extra":[1],"header_count_a":2 }"#;
        // `extra` holds an array: the fast path leaves that line to serde.
        assert_eq!(parse(line), None);
        let line = br#" { "model_a" : "x", "model_b":"y","winner":"tie (bothbad)","tstamp":1.7e9,"anony":true,"judge":null,"extra":-0.5,"header_count_a":2 } "#;
        let got = parse(line).unwrap();
        assert_eq!(
            (got.model_a, got.model_b, got.winner),
            ("x", "y", "tie (bothbad)")
        );
        assert_eq!(
            (got.tstamp, got.anony, got.judge),
            (Some(1.7e9), Some(true), None)
        );
        assert_eq!(got.flat[1], Some(2.0));
        assert_eq!(got.flat[0], None);
    }

    #[test]
    fn gives_up_on_what_it_does_not_handle() {
        for line in [
            r#"{"model_a":"x\"","model_b":"y","winner":"model_a"}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","conv_metadata":{}}"#,
            r#"{"model_a":"x","model_a":"z","model_b":"y","winner":"model_a"}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","tstamp":"1"}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","tstamp":01}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","tstamp":1.}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","anony":1}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","bold_count_b":{"**":1}}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a",}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a"} x"#,
            r#"{"model_a":"x","model_b":"y"}"#,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","e":tru}"#,
            "{\"model_a\":\"x\ty\",\"model_b\":\"y\",\"winner\":\"model_a\"}",
        ] {
            assert_eq!(parse(line.as_bytes()), None, "{line}");
        }
        assert_eq!(parse(b"{\"model_a\":\"\xff\"}"), None);
    }

    #[test]
    fn strings_end_at_the_first_quote_wherever_it_falls() {
        for len in 0..40 {
            let name: String = "é-model-".chars().cycle().take(len).collect();
            let line = format!(r#"{{"model_a":"{name}","model_b":"y","winner":"model_a"}}"#);
            assert_eq!(
                parse(line.as_bytes()).map(|l| l.model_a),
                Some(name.as_str())
            );
            for bad in ['\\', '\u{1}', '\n'] {
                let mut broken = name.clone();
                broken.insert(
                    broken
                        .char_indices()
                        .nth(len / 2)
                        .map_or(broken.len(), |c| c.0),
                    bad,
                );
                let line = format!(r#"{{"model_a":"{broken}","model_b":"y","winner":"model_a"}}"#);
                assert_eq!(parse(line.as_bytes()), None, "{line:?}");
            }
        }
    }

    #[test]
    fn whole_numbers_and_others_parse_alike() {
        for text in [
            "0",
            "-0",
            "7",
            "1700000000",
            "-42",
            "123456789012345",
            "1234567890123456789",
            "1.5",
            "-2e3",
        ] {
            let line =
                format!(r#"{{"model_a":"x","model_b":"y","winner":"model_a","tstamp":{text}}}"#);
            let want: f64 = text.parse().unwrap();
            let got = parse(line.as_bytes()).unwrap().tstamp.unwrap();
            assert!(
                got == want && got.is_sign_negative() == want.is_sign_negative(),
                "{text}: {got}"
            );
        }
    }
}
