//! Chatbot Arena battle logs: reading them fast (JSON array, JSONL or CSV) into model indices
//! and outcomes, and writing synthetic ones for benchmarks.
//!
//! Fields as FastChat uses them: `model_a`, `model_b`, `winner` ∈ {`model_a`, `model_b`, `tie`,
//! `tie (bothbad)` or arena-rank's `both_bad`}, optional `tstamp` (battles are put in time order for online Elo), `anony`
//! (when present, only anonymous battles count), `judge`, `question_id` (a string naming the
//! prompt, which prediction-powered ratings pair human and judge votes by), and style counts either in
//! `conv_metadata` or flat (`sum_assistant_a_tokens`, `header_count_a`, `list_count_a`,
//! `bold_count_a`, and the same for `_b`); header/list/bold counts may be numbers or objects
//! whose values are summed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use ranking::Outcome;
use ranking::style::StyleCounts;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Deserialize;

pub mod board;
mod fast;

/// Battles read from a log, with model names interned.
#[derive(Debug, Clone, Default)]
pub struct BattleLog {
    /// Model names; battles refer to them by index.
    pub models: Vec<String>,
    /// `(a, b, outcome)` in time order.
    pub battles: Vec<(u32, u32, Outcome)>,
    /// Style counts per battle, `(a, b)`, when every counted battle has them.
    pub style: Option<Vec<(StyleCounts, StyleCounts)>>,
    /// Lines (or array elements) skipped because `anony` was false.
    pub skipped_non_anonymous: usize,
    /// Unix timestamps per battle, when every battle has one.
    pub tstamps: Option<Vec<f64>>,
    /// Judge (annotator) names; `judges` refers to them by index.
    pub judge_names: Vec<String>,
    /// The judge of each battle, when every battle names one.
    pub judges: Option<Vec<u32>>,
    /// Question ids; `questions` refers to them by index.
    pub question_names: Vec<String>,
    /// The question of each battle, when every battle names one.
    pub questions: Option<Vec<u32>>,
}

#[derive(Deserialize)]
struct RawBattle<'a> {
    #[serde(borrow)]
    model_a: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    model_b: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    winner: std::borrow::Cow<'a, str>,
    #[serde(default)]
    tstamp: Option<f64>,
    #[serde(default)]
    anony: Option<bool>,
    #[serde(default, borrow)]
    judge: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    question_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    conv_metadata: Option<StyleFields>,
    // The flat style fields, listed here rather than through `#[serde(flatten)]`, which would
    // buffer every record and slow loading several-fold.
    #[serde(default)]
    sum_assistant_a_tokens: Option<Count>,
    #[serde(default)]
    header_count_a: Option<Count>,
    #[serde(default)]
    list_count_a: Option<Count>,
    #[serde(default)]
    bold_count_a: Option<Count>,
    #[serde(default)]
    sum_assistant_b_tokens: Option<Count>,
    #[serde(default)]
    header_count_b: Option<Count>,
    #[serde(default)]
    list_count_b: Option<Count>,
    #[serde(default)]
    bold_count_b: Option<Count>,
}

impl RawBattle<'_> {
    fn style(&self) -> Option<(StyleCounts, StyleCounts)> {
        if let Some(meta) = &self.conv_metadata {
            return meta.counts();
        }
        style_pair(values([
            &self.sum_assistant_a_tokens,
            &self.header_count_a,
            &self.list_count_a,
            &self.bold_count_a,
            &self.sum_assistant_b_tokens,
            &self.header_count_b,
            &self.list_count_b,
            &self.bold_count_b,
        ]))
    }

    fn record(&self) -> Record<'_> {
        Record {
            model_a: &self.model_a,
            model_b: &self.model_b,
            winner: &self.winner,
            tstamp: self.tstamp,
            anony: self.anony,
            judge: self.judge.as_deref(),
            question_id: self.question_id.as_deref(),
            style: self.style(),
        }
    }
}

fn values(f: [&Option<Count>; 8]) -> [Option<f64>; 8] {
    f.map(|c| c.as_ref().map(Count::value))
}

/// Style counts of A and B from the eight fields in FastChat's order (tokens, headers, lists,
/// bold for A, then for B); `None` unless all are present.
fn style_pair(v: [Option<f64>; 8]) -> Option<(StyleCounts, StyleCounts)> {
    Some((
        StyleCounts {
            tokens: v[0]?,
            headers: v[1]?,
            lists: v[2]?,
            bold: v[3]?,
        },
        StyleCounts {
            tokens: v[4]?,
            headers: v[5]?,
            lists: v[6]?,
            bold: v[7]?,
        },
    ))
}

/// One battle record, however it was parsed.
struct Record<'a> {
    model_a: &'a str,
    model_b: &'a str,
    winner: &'a str,
    tstamp: Option<f64>,
    anony: Option<bool>,
    judge: Option<&'a str>,
    question_id: Option<&'a str>,
    style: Option<(StyleCounts, StyleCounts)>,
}

impl<'a> From<fast::Line<'a>> for Record<'a> {
    fn from(l: fast::Line<'a>) -> Self {
        Self {
            model_a: l.model_a,
            model_b: l.model_b,
            winner: l.winner,
            tstamp: l.tstamp,
            anony: l.anony,
            judge: l.judge,
            question_id: l.question_id,
            style: style_pair(l.flat),
        }
    }
}

#[derive(Deserialize, Default)]
struct StyleFields {
    sum_assistant_a_tokens: Option<Count>,
    header_count_a: Option<Count>,
    list_count_a: Option<Count>,
    bold_count_a: Option<Count>,
    sum_assistant_b_tokens: Option<Count>,
    header_count_b: Option<Count>,
    list_count_b: Option<Count>,
    bold_count_b: Option<Count>,
}

/// A number, or an object of numbers that FastChat sums (e.g. `{"h1": 1, "h2": 3}`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Count {
    Number(f64),
    Map(HashMap<String, f64>),
}

impl Count {
    fn value(&self) -> f64 {
        match self {
            Self::Number(n) => *n,
            Self::Map(m) => m.values().sum(),
        }
    }
}

impl StyleFields {
    fn counts(&self) -> Option<(StyleCounts, StyleCounts)> {
        style_pair(values([
            &self.sum_assistant_a_tokens,
            &self.header_count_a,
            &self.list_count_a,
            &self.bold_count_a,
            &self.sum_assistant_b_tokens,
            &self.header_count_b,
            &self.list_count_b,
            &self.bold_count_b,
        ]))
    }
}

fn parse_winner(winner: &str) -> Option<Outcome> {
    match winner {
        "model_a" => Some(Outcome::A),
        "model_b" => Some(Outcome::B),
        "tie" => Some(Outcome::Tie),
        "tie (bothbad)" | "both_bad" => Some(Outcome::BothBad),
        _ => None,
    }
}

/// A column kept only while every battle has a value for it.
struct Column<T> {
    values: Vec<T>,
    complete: bool,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            complete: true,
        }
    }
}

impl<T> Column<T> {
    fn push(&mut self, value: Option<T>) {
        match value {
            Some(v) if self.complete => self.values.push(v),
            Some(_) => {}
            None => {
                self.complete = false;
                self.values = Vec::new();
            }
        }
    }

    /// The values, when the column is complete and not empty.
    fn finish(self) -> Option<Vec<T>> {
        (self.complete && !self.values.is_empty()).then_some(self.values)
    }
}

/// The result of parsing one chunk: local name tables and battles referring to them, column
/// by column.
#[derive(Default)]
struct Chunk {
    names: Vec<String>,
    lookup: FxHashMap<String, u32>,
    battles: Vec<(u32, u32, Outcome)>,
    tstamps: Column<f64>,
    style: Column<(StyleCounts, StyleCounts)>,
    judges: Column<u32>,
    skipped: usize,
    judge_names: Vec<String>,
    judge_lookup: FxHashMap<String, u32>,
    questions: Column<u32>,
    question_names: Vec<String>,
    question_lookup: FxHashMap<String, u32>,
}

fn intern(names: &mut Vec<String>, lookup: &mut FxHashMap<String, u32>, name: &str) -> u32 {
    if let Some(&i) = lookup.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.push(name.to_owned());
    lookup.insert(name.to_owned(), i);
    i
}

impl Chunk {
    fn push(&mut self, raw: &Record<'_>, line: usize) -> Result<()> {
        if raw.anony == Some(false) {
            self.skipped += 1;
            return Ok(());
        }
        let outcome = parse_winner(raw.winner).with_context(|| {
            format!(
                "line {line}: field `winner` is {:?}; expected model_a, model_b, tie, \"tie (bothbad)\" or both_bad",
                raw.winner
            )
        })?;
        if raw.model_a == raw.model_b {
            bail!(
                "line {line}: model_a and model_b are both {:?}",
                raw.model_a
            );
        }
        for (field, name) in [("model_a", raw.model_a), ("model_b", raw.model_b)] {
            if name.contains('\0') {
                bail!("line {line}: field `{field}` {NUL}");
            }
        }
        let a = intern(&mut self.names, &mut self.lookup, raw.model_a);
        let b = intern(&mut self.names, &mut self.lookup, raw.model_b);
        self.battles.push((a, b, outcome));
        self.tstamps.push(raw.tstamp);
        self.style.push(raw.style);
        let judge = raw
            .judge
            .map(|name| intern(&mut self.judge_names, &mut self.judge_lookup, name));
        self.judges.push(judge);
        let question = raw
            .question_id
            .map(|q| intern(&mut self.question_names, &mut self.question_lookup, q));
        self.questions.push(question);
        Ok(())
    }
}

/// Reads a battle log, detecting the format from its first bytes (`[` JSON array, `{` JSONL,
/// anything else CSV with a header).
///
/// # Errors
/// On IO failure, or with the line (or array element) and field of the first bad record.
pub fn read(path: &Path) -> Result<BattleLog> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_from(file).map_err(|e| {
        if e.to_string() == EMPTY {
            anyhow::anyhow!("{} is empty", path.display())
        } else {
            e
        }
    })
}

const EMPTY: &str = "the battle log is empty";

/// Why a text with a NUL character is refused: PostgreSQL's text cannot hold one.
pub(crate) const NUL: &str = "contains a NUL character (\\u0000), which cannot be stored";

/// Reads a battle log from any reader (an upload, a file), as [`read`].
///
/// # Errors
/// On IO failure, or with the line (or array element) and field of the first bad record.
pub fn read_from(mut input: impl Read + Send) -> Result<BattleLog> {
    let mut head = vec![0u8; 4096];
    let mut n = 0;
    while n < head.len() {
        let k = input.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let mut rest = std::io::Cursor::new(head).chain(input);
    match first {
        None => bail!("{EMPTY}"),
        Some(b'[') => {
            let mut bytes = Vec::new();
            rest.read_to_end(&mut bytes)?;
            read_json_array(&bytes)
        }
        Some(b'{') => read_jsonl(rest),
        Some(_) => read_csv(rest),
    }
}

fn read_json_array(bytes: &[u8]) -> Result<BattleLog> {
    let raws: Vec<RawBattle<'_>> =
        serde_json::from_slice(bytes).context("reading the JSON array of battles")?;
    let mut chunk = Chunk::default();
    for (i, raw) in raws.iter().enumerate() {
        chunk
            .push(&raw.record(), i + 1)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replacen("line", "element", 1)))?;
    }
    Ok(merge(vec![chunk]))
}

/// JSONL: read in blocks of 8 MiB (bounded memory for logs of any size) into two buffers
/// that take turns: while one block is parsed on all cores, the next is read.
fn read_jsonl(mut file: impl Read + Send) -> Result<BattleLog> {
    const BLOCK: usize = 8 << 20;
    let mut chunks: Vec<Chunk> = Vec::new();
    let (mut current, mut next) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let mut filled = fill(&mut file, &mut current, 0)?;
    let mut first_line = 1usize;
    loop {
        let at_end = filled < current.len();
        let cut = if at_end {
            filled
        } else {
            match memchr::memrchr(b'\n', &current[..filled]) {
                Some(p) => p + 1,
                None => bail!("line {first_line} is longer than {BLOCK} bytes"),
            }
        };
        // The unfinished last line starts the next block.
        let carry = filled - cut;
        next[..carry].copy_from_slice(&current[cut..filled]);
        let block = &current[..cut];
        let (parsed, read) = rayon::join(
            || parse_block(block, first_line),
            || {
                if at_end {
                    Ok(carry)
                } else {
                    fill(&mut file, &mut next, carry)
                }
            },
        );
        let (parsed, lines) = parsed?;
        chunks.extend(parsed);
        first_line += lines;
        if at_end {
            break;
        }
        filled = read?;
        std::mem::swap(&mut current, &mut next);
    }
    Ok(merge(chunks))
}

/// Reads into `buf[from..]` until it is full or the input ends; returns the bytes in `buf`.
fn fill(file: &mut impl Read, buf: &mut [u8], from: usize) -> std::io::Result<usize> {
    let mut filled = from;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn count_newlines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Splits a block of whole lines into pieces (one per core and then some) and parses them in
/// parallel. Returns the pieces and the number of line ends in the block.
fn parse_block(block: &[u8], first_line: usize) -> Result<(Vec<Chunk>, usize)> {
    let pieces = (rayon::current_num_threads() * 4).max(1);
    let target = block.len() / pieces + 1;
    let mut bounds = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let end = (start + target).min(block.len());
        let end =
            memchr::memchr(b'\n', &block[end.max(1) - 1..]).map_or(block.len(), |p| end.max(1) + p);
        bounds.push((start, end));
        start = end;
    }
    // Line numbers of each piece's first line, for error messages.
    let counts: Vec<usize> = bounds
        .par_iter()
        .map(|&(s, e)| count_newlines(&block[s..e]))
        .collect();
    let mut line_starts = Vec::with_capacity(bounds.len());
    let mut line = first_line;
    for c in &counts {
        line_starts.push(line);
        line += c;
    }
    let chunks = bounds
        .par_iter()
        .zip(line_starts.par_iter())
        .map(|(&(s, e), &line0)| {
            let mut chunk = Chunk::default();
            for (k, text) in lines(&block[s..e]).enumerate() {
                let line = line0 + k;
                if let Some(fast) = fast::parse(text) {
                    chunk.push(&fast.into(), line)?;
                    continue;
                }
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let raw: RawBattle<'_> = serde_json::from_slice(text)
                    .with_context(|| format!("line {line}: not a battle record"))?;
                chunk.push(&raw.record(), line)?;
            }
            Ok(chunk)
        })
        .collect::<Result<Vec<Chunk>>>()?;
    Ok((chunks, counts.iter().sum()))
}

/// The lines of `bytes` as `split(|&b| b == b'\n')` gives them, found with SIMD.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(p) => {
                rest = Some(&r[p + 1..]);
                Some(&r[..p])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

#[derive(Deserialize)]
struct CsvBattle {
    model_a: String,
    model_b: String,
    winner: String,
    tstamp: Option<f64>,
    anony: Option<String>,
    judge: Option<String>,
    question_id: Option<String>,
    sum_assistant_a_tokens: Option<f64>,
    header_count_a: Option<f64>,
    list_count_a: Option<f64>,
    bold_count_a: Option<f64>,
    sum_assistant_b_tokens: Option<f64>,
    header_count_b: Option<f64>,
    list_count_b: Option<f64>,
    bold_count_b: Option<f64>,
}

fn read_csv(input: impl Read) -> Result<BattleLog> {
    let mut reader = csv::Reader::from_reader(input);
    let mut chunk = Chunk::default();
    for (i, record) in reader.deserialize::<CsvBattle>().enumerate() {
        let line = i + 2;
        let r = record.with_context(|| format!("line {line}: not a battle record"))?;
        let anony = match r.anony.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => bail!("line {line}: field `anony` is {other:?}; expected true or false"),
        };
        let num = |v: Option<f64>| v.map(Count::Number);
        let raw = RawBattle {
            model_a: r.model_a.as_str().into(),
            model_b: r.model_b.as_str().into(),
            winner: r.winner.as_str().into(),
            tstamp: r.tstamp,
            anony,
            judge: r.judge.as_deref().filter(|j| !j.is_empty()).map(Into::into),
            question_id: r
                .question_id
                .as_deref()
                .filter(|q| !q.is_empty())
                .map(Into::into),
            conv_metadata: None,
            sum_assistant_a_tokens: num(r.sum_assistant_a_tokens),
            header_count_a: num(r.header_count_a),
            list_count_a: num(r.list_count_a),
            bold_count_a: num(r.bold_count_a),
            sum_assistant_b_tokens: num(r.sum_assistant_b_tokens),
            header_count_b: num(r.header_count_b),
            list_count_b: num(r.list_count_b),
            bold_count_b: num(r.bold_count_b),
        };
        chunk.push(&raw.record(), line)?;
    }
    Ok(merge(vec![chunk]))
}

/// Interns names across chunks, sorts by timestamp when every battle has one (stable, so file
/// order breaks ties), and keeps style counts and judges only when every battle has them.
fn merge(chunks: Vec<Chunk>) -> BattleLog {
    let mut models: Vec<String> = Vec::new();
    let mut index = FxHashMap::default();
    let mut judge_names: Vec<String> = Vec::new();
    let mut judge_index = FxHashMap::default();
    let total: usize = chunks.iter().map(|c| c.battles.len()).sum();
    let mut battles = Vec::with_capacity(total);
    let mut tstamps = Column::default();
    let mut style = Column::default();
    let mut judges = Column::default();
    let mut question_names: Vec<String> = Vec::new();
    let mut question_index = FxHashMap::default();
    let mut questions = Column::default();
    let mut skipped = 0;
    for chunk in chunks {
        skipped += chunk.skipped;
        let remap = |names: Vec<String>, list: &mut Vec<String>, index: &mut FxHashMap<_, _>| {
            names
                .iter()
                .map(|name| intern(list, index, name))
                .collect::<Vec<u32>>()
        };
        let map = remap(chunk.names, &mut models, &mut index);
        battles.extend(
            chunk
                .battles
                .iter()
                .map(|&(a, b, o)| (map[a as usize], map[b as usize], o)),
        );
        let judge_map = remap(chunk.judge_names, &mut judge_names, &mut judge_index);
        concat(&mut tstamps, chunk.tstamps, |t| t);
        concat(&mut style, chunk.style, |s| s);
        concat(&mut judges, chunk.judges, |j| judge_map[j as usize]);
        let question_map = remap(
            chunk.question_names,
            &mut question_names,
            &mut question_index,
        );
        concat(&mut questions, chunk.questions, |q| {
            question_map[q as usize]
        });
    }
    let mut tstamps = tstamps.finish();
    let mut style = style.finish();
    let mut judges = judges.finish();
    let mut questions = questions.finish();
    if let Some(times) = &mut tstamps
        && !times.is_sorted_by(|x, y| x.total_cmp(y).is_le())
    {
        let mut order: Vec<u32> = (0..times.len() as u32).collect();
        order.par_sort_by(|&i, &j| times[i as usize].total_cmp(&times[j as usize]));
        permute(times, &order);
        permute(&mut battles, &order);
        if let Some(s) = &mut style {
            permute(s, &order);
        }
        if let Some(j) = &mut judges {
            permute(j, &order);
        }
        if let Some(q) = &mut questions {
            permute(q, &order);
        }
    }
    BattleLog {
        models,
        battles,
        style,
        skipped_non_anonymous: skipped,
        tstamps,
        judge_names,
        judges,
        question_names,
        questions,
    }
}

fn permute<T: Copy>(values: &mut Vec<T>, order: &[u32]) {
    *values = order.iter().map(|&i| values[i as usize]).collect();
}

/// Appends a chunk's column to the whole log's, mapping its values.
fn concat<T, U>(whole: &mut Column<U>, part: Column<T>, map: impl Fn(T) -> U) {
    if !part.complete {
        whole.complete = false;
        whole.values = Vec::new();
    } else if whole.complete {
        whole.values.extend(part.values.into_iter().map(map));
    }
}

/// Settings of the synthetic battle generator.
#[derive(Debug, Clone, Copy)]
pub struct GenConfig {
    /// Number of models.
    pub models: usize,
    /// Number of battles.
    pub battles: usize,
    /// Share of ties (half `tie`, half `tie (bothbad)`).
    pub ties: f64,
    /// Seed.
    pub seed: u64,
    /// Include `conv_metadata` style counts.
    pub style: bool,
}

/// Writes synthetic battles as JSONL: models `model-00`…, strengths spread evenly over 600
/// rating points, winners drawn from the Bradley–Terry probabilities, ties at the given rate.
///
/// # Errors
/// On write failure.
pub fn generate(cfg: &GenConfig, out: &mut impl Write) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = cfg.models.max(2);
    let strength: Vec<f64> = (0..n)
        .map(|i| -0.75 + 1.5 * i as f64 / (n - 1) as f64)
        .collect();
    let mut line = String::with_capacity(256);
    for k in 0..cfg.battles {
        let a = rng.random_range(0..n);
        let b = (a + rng.random_range(1..n)) % n;
        let (ta, tb) = (rng.random_range(50..900u32), rng.random_range(50..900u32));
        let p = 1.0 / (1.0 + 10f64.powf(strength[b] - strength[a]));
        let winner = if rng.random_bool(cfg.ties) {
            if rng.random_bool(0.5) {
                "tie"
            } else {
                "tie (bothbad)"
            }
        } else if rng.random_bool(p) {
            "model_a"
        } else {
            "model_b"
        };
        line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            line,
            r#"{{"model_a":"model-{a:02}","model_b":"model-{b:02}","winner":"{winner}","tstamp":{},"anony":true"#,
            1_700_000_000 + k as u64
        );
        if cfg.style {
            let _ = write!(
                line,
                r#","conv_metadata":{{"sum_assistant_a_tokens":{ta},"header_count_a":{{"h1":{},"h2":{}}},"list_count_a":{{"ordered":{},"unordered":{}}},"bold_count_a":{{"**":{},"__":0}},"sum_assistant_b_tokens":{tb},"header_count_b":{{"h1":{},"h2":{}}},"list_count_b":{{"ordered":{},"unordered":{}}},"bold_count_b":{{"**":{},"__":0}}}}"#,
                rng.random_range(0..3u32),
                rng.random_range(0..4u32),
                rng.random_range(0..5u32),
                rng.random_range(0..5u32),
                rng.random_range(0..6u32),
                rng.random_range(0..3u32),
                rng.random_range(0..4u32),
                rng.random_range(0..5u32),
                rng.random_range(0..5u32),
                rng.random_range(0..6u32),
            );
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// Whenever the fast path reads a line, it reads what serde reads; lines built from random
    /// fields, values and spacing, the awkward ones included.
    #[test]
    fn the_fast_path_agrees_with_serde() {
        use rand::{Rng, SeedableRng};
        let keys = [
            "model_a",
            "model_b",
            "winner",
            "tstamp",
            "anony",
            "judge",
            "question_id",
            "extra",
            "header_count_a",
            "sum_assistant_b_tokens",
            "bold_count_b",
            "model_a",
        ];
        let values = [
            r#""x""#,
            r#""y""#,
            r#""model_a""#,
            r#""tie (bothbad)""#,
            r#""a\"b""#,
            r#""é""#,
            "1",
            "-0.5",
            "1.7e9",
            "01",
            "2.",
            "true",
            "false",
            "null",
            "[1]",
            r#"{"h1":1}"#,
            "tru",
        ];
        let spaces = ["", " ", "\t", "\r"];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (mut fast_lines, mut total) = (0, 0);
        for _ in 0..20_000 {
            let mut line = String::from("{");
            let fields = rng.random_range(0..7);
            for k in 0..fields {
                let sp: [&str; 4] =
                    std::array::from_fn(|_| spaces[rng.random_range(0..spaces.len())]);
                if k > 0 {
                    line.push(',');
                }
                let key = if k < 3 && rng.random_bool(0.8) {
                    ["model_a", "model_b", "winner"][k]
                } else {
                    keys[rng.random_range(0..keys.len())]
                };
                let value = match key {
                    "model_a" | "model_b" if rng.random_bool(0.7) => values[rng.random_range(0..2)],
                    "winner" if rng.random_bool(0.7) => values[rng.random_range(2..4)],
                    _ => values[rng.random_range(0..values.len())],
                };
                line.push_str(&format!(
                    "{}\"{key}\"{}:{}{value}{}",
                    sp[0], sp[1], sp[2], sp[3]
                ));
            }
            line.push('}');
            total += 1;
            let Some(fast) = fast::parse(line.as_bytes()) else {
                continue;
            };
            fast_lines += 1;
            let raw: RawBattle<'_> = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("the fast path read {line:?}, serde says {e}"));
            let (f, r) = (Record::from(fast), raw.record());
            assert_eq!(
                (
                    f.model_a,
                    f.model_b,
                    f.winner,
                    f.tstamp,
                    f.anony,
                    f.judge,
                    f.question_id,
                    f.style
                ),
                (
                    r.model_a,
                    r.model_b,
                    r.winner,
                    r.tstamp,
                    r.anony,
                    r.judge,
                    r.question_id,
                    r.style
                ),
                "{line}"
            );
        }
        // Enough lines of both kinds to mean something.
        assert!(
            fast_lines > 500 && total - fast_lines > 500,
            "{fast_lines} of {total}"
        );
    }

    /// A log of several blocks reads the same as its lines one by one (lines cross the
    /// blocks' edges).
    #[test]
    fn logs_longer_than_a_block_read_whole() {
        let mut out = Vec::new();
        let cfg = GenConfig {
            models: 7,
            battles: 120_000,
            ties: 0.3,
            seed: 4,
            style: false,
        };
        generate(&cfg, &mut out).unwrap();
        assert!(out.len() > 8 << 20, "{} bytes", out.len());
        let log = read_from(out.as_slice()).unwrap();
        assert_eq!(log.battles.len(), 120_000);
        let text = std::str::from_utf8(&out).unwrap();
        for (k, line) in text.lines().enumerate().step_by(997) {
            let raw: RawBattle<'_> = serde_json::from_str(line).unwrap();
            let (a, b, o) = log.battles[k];
            assert_eq!(log.models[a as usize], raw.model_a, "line {}", k + 1);
            assert_eq!(log.models[b as usize], raw.model_b, "line {}", k + 1);
            assert_eq!(Some(o), parse_winner(&raw.winner), "line {}", k + 1);
        }
        assert_eq!(log.tstamps.map(|t| t.len()), Some(120_000));
    }

    #[test]
    fn reads_the_three_formats_alike() {
        let jsonl = r#"{"model_a":"x","model_b":"y","winner":"model_a","tstamp":2,"anony":true}
{"model_a":"y","model_b":"x","winner":"tie (bothbad)","tstamp":1,"anony":true}
{"model_a":"y","model_b":"z","winner":"model_b","tstamp":3,"anony":false}
"#;
        let array = r#"[{"model_a":"x","model_b":"y","winner":"model_a","tstamp":2,"anony":true},
{"model_a":"y","model_b":"x","winner":"tie (bothbad)","tstamp":1,"anony":true},
{"model_a":"y","model_b":"z","winner":"model_b","tstamp":3,"anony":false}]"#;
        let csv = "model_a,model_b,winner,tstamp,anony\nx,y,model_a,2,true\ny,x,tie (bothbad),1,true\ny,z,model_b,3,false\n";
        for (name, text) in [("a.jsonl", jsonl), ("a.json", array), ("a.csv", csv)] {
            let (_dir, path) = write(name, text);
            let log = read(&path).unwrap();
            // Sorted by tstamp; the non-anonymous battle is skipped.
            assert_eq!(log.battles.len(), 2, "{name}");
            assert_eq!(log.skipped_non_anonymous, 1, "{name}");
            let first = log.battles[0];
            assert_eq!(log.models[first.0 as usize], "y", "{name}");
            assert_eq!(first.2, Outcome::BothBad, "{name}");
            assert!(log.style.is_none());
        }
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let (_dir, path) = write(
            "bad.jsonl",
            "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n\n{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"draw\"}\n",
        );
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("line 3") && err.contains("winner"), "{err}");
        let (_dir, path) = write("bad2.jsonl", "{\"model_a\":\"x\"}\n");
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("line 1") && err.contains("model_b"), "{err}");
    }

    #[test]
    fn style_counts_come_from_conv_metadata_or_flat_fields() {
        let text = r#"{"model_a":"x","model_b":"y","winner":"model_a","conv_metadata":{"sum_assistant_a_tokens":10,"header_count_a":{"h1":1,"h2":2},"list_count_a":{"ordered":1},"bold_count_a":{"**":4},"sum_assistant_b_tokens":5,"header_count_b":0,"list_count_b":0,"bold_count_b":0}}
{"model_a":"y","model_b":"x","winner":"model_b","sum_assistant_a_tokens":7,"header_count_a":1,"list_count_a":2,"bold_count_a":3,"sum_assistant_b_tokens":8,"header_count_b":0,"list_count_b":0,"bold_count_b":0}
"#;
        let (_dir, path) = write("s.jsonl", text);
        let log = read(&path).unwrap();
        let style = log.style.unwrap();
        assert_eq!(
            style[0].0,
            StyleCounts {
                tokens: 10.0,
                headers: 3.0,
                lists: 1.0,
                bold: 4.0
            }
        );
        assert_eq!(style[1].0.bold, 3.0);
    }

    #[test]
    fn generated_logs_read_back() {
        let mut out = Vec::new();
        generate(
            &GenConfig {
                models: 5,
                battles: 2000,
                ties: 0.3,
                seed: 1,
                style: true,
            },
            &mut out,
        )
        .unwrap();
        let (_dir, path) = write("g.jsonl", std::str::from_utf8(&out).unwrap());
        let log = read(&path).unwrap();
        assert_eq!((log.models.len(), log.battles.len()), (5, 2000));
        assert_eq!(log.style.map(|s| s.len()), Some(2000));
        let ties = log
            .battles
            .iter()
            .filter(|b| matches!(b.2, Outcome::Tie | Outcome::BothBad))
            .count();
        assert!((500..700).contains(&ties), "{ties}");
    }
}
