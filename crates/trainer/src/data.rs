//! Preference data: DPO rows (`prompt`/`chosen`/`rejected`, plain text or chat messages, with an
//! optional label confidence) and unpaired KTO rows (`prompt`/`completion`/`label`), tokenised
//! as TRL does, and batched with padding masks.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::tokenizer::Tokenizer;

pub use crate::chat::ChatMessage;

/// Text or a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Text {
    /// Plain text.
    Plain(String),
    /// Chat messages, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
}

/// One line of a training file.
/// Other columns (such as the provenance of Verdict's export) are kept in `extra` and ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    /// The prompt.
    pub prompt: Text,
    /// The preferred completion (paired rows).
    #[serde(default)]
    pub chosen: Option<Text>,
    /// The other completion (paired rows).
    #[serde(default)]
    pub rejected: Option<Text>,
    /// The completion (unpaired rows).
    #[serde(default)]
    pub completion: Option<Text>,
    /// Unpaired rows: desirable (true) or not.
    #[serde(default)]
    pub label: Option<bool>,
    /// Probability that `chosen` really is better (soft labels; 1 when absent).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Provenance columns of Verdict's export, ignored here.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Reads a JSONL training file; errors name the line.
///
/// # Errors
/// An unreadable file or line, or a row that is neither paired nor unpaired.
pub fn read_jsonl(path: &Path) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), n + 1))?;
        let paired = row.chosen.is_some() && row.rejected.is_some();
        let unpaired = row.completion.is_some() && row.label.is_some();
        if paired == unpaired {
            bail!(
                "{} line {}: a row has either `chosen` and `rejected`, or `completion` and `label`",
                path.display(),
                n + 1
            );
        }
        if let Some(c) = row.confidence
            && !(0.0..=1.0).contains(&c)
        {
            bail!(
                "{} line {}: `confidence` is between 0 and 1, not {c}",
                path.display(),
                n + 1
            );
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{} has no rows", path.display());
    }
    Ok(rows)
}

/// A tokenised example.
#[derive(Debug, Clone, PartialEq)]
pub enum Example {
    /// A preference pair.
    Paired {
        /// Prompt tokens.
        prompt: Vec<u32>,
        /// Chosen completion tokens (EOS included).
        chosen: Vec<u32>,
        /// Rejected completion tokens (EOS included).
        rejected: Vec<u32>,
        /// Label confidence.
        confidence: f64,
    },
    /// A KTO row.
    Unpaired {
        /// Prompt tokens.
        prompt: Vec<u32>,
        /// Completion tokens (EOS included).
        completion: Vec<u32>,
        /// Thumbs up.
        desirable: bool,
    },
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn render(
    tok: &Tokenizer,
    text: &Text,
    prompt: Option<&Text>,
    generation_prompt: bool,
) -> Result<String> {
    match (prompt, text) {
        (None, Text::Plain(s)) => Ok(s.clone()),
        (Some(Text::Plain(p)), Text::Plain(s)) => {
            // TRL appends the EOS text to plain completions that lack it.
            let eos = tok.eos.as_ref().map(|e| e.0.as_str()).unwrap_or("");
            let s = if eos.is_empty() || s.ends_with(eos) {
                s.clone()
            } else {
                format!("{s}{eos}")
            };
            Ok(format!("{p}{s}"))
        }
        (None, Text::Chat(m)) => crate::chat::render(tok, m, generation_prompt),
        (Some(Text::Chat(p)), Text::Chat(m)) => {
            let mut all = p.clone();
            all.extend(m.iter().cloned());
            crate::chat::render(tok, &all, false)
        }
        _ => bail!("the prompt and its completions must both be text or both be chat messages"),
    }
}

/// Tokenises rows as TRL's `DPOTrainer` does: the completion starts where the tokenised
/// prompt and prompt+completion diverge; plain completions get the EOS text appended.
///
/// # Errors
/// Tokeniser or chat-template failures, naming the row.
pub fn tokenize(rows: &[Row], tok: &Tokenizer) -> Result<Vec<Example>> {
    rows.iter()
        .enumerate()
        .map(|(k, row)| -> Result<Example> {
            let prompt_text = render(tok, &row.prompt, None, true)?;
            let prompt = tok.encode(&prompt_text)?;
            let full = |c: &Text| -> Result<Vec<u32>> {
                tok.encode(&render(tok, c, Some(&row.prompt), false)?)
            };
            match (&row.chosen, &row.rejected, &row.completion, row.label) {
                (Some(c), Some(r), _, _) => {
                    let (pc, pr) = (full(c)?, full(r)?);
                    let n = common_prefix(&prompt, &pc).min(common_prefix(&prompt, &pr));
                    Ok(Example::Paired {
                        prompt: prompt[..n].to_vec(),
                        chosen: pc[n..].to_vec(),
                        rejected: pr[n..].to_vec(),
                        confidence: row.confidence.unwrap_or(1.0),
                    })
                }
                (_, _, Some(c), Some(label)) => {
                    let pc = full(c)?;
                    let n = common_prefix(&prompt, &pc);
                    Ok(Example::Unpaired {
                        prompt: prompt[..n].to_vec(),
                        completion: pc[n..].to_vec(),
                        desirable: label,
                    })
                }
                _ => bail!("row {}: neither paired nor unpaired", k + 1),
            }
        })
        .collect()
}

/// The role of a sequence in a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// Chosen completion of pair `pair`.
    Chosen {
        /// Pair index within the batch.
        pair: usize,
        /// Label confidence.
        confidence: f64,
    },
    /// Rejected completion of pair `pair`.
    Rejected {
        /// Pair index within the batch.
        pair: usize,
    },
    /// An unpaired completion.
    Unpaired {
        /// Thumbs up.
        desirable: bool,
    },
}

/// Sequences padded to one length: `ids` and masks are `[n, len]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Token ids, padded on the right.
    pub ids: Vec<u32>,
    /// 1 for real tokens.
    pub attention: Vec<f32>,
    /// 1 for completion tokens.
    pub completion: Vec<f32>,
    /// What each row is.
    pub roles: Vec<Role>,
    /// Rows.
    pub rows: usize,
    /// Padded length.
    pub len: usize,
    /// Indices of the examples in the dataset (for cached reference log-probs).
    pub examples: Vec<usize>,
}

/// Builds a batch from examples (`indices` into `examples`): the chosen rows first, then the
/// rejected ones in the same order, then unpaired rows, each prompt+completion truncated to
/// `max_length` keeping the start, padded on the right with `pad_id`.
#[must_use]
pub fn batch(
    examples: &[Example],
    indices: &[usize],
    max_length: Option<usize>,
    pad_id: u32,
) -> Batch {
    let mut seqs: Vec<(Vec<u32>, usize, Role, usize)> = Vec::new();
    let mut pairs = Vec::new();
    for &i in indices {
        match &examples[i] {
            Example::Paired {
                prompt,
                chosen,
                rejected,
                confidence,
            } => {
                pairs.push((i, prompt, chosen, rejected, *confidence));
            }
            Example::Unpaired { .. } => {}
        }
    }
    for (pair, (i, prompt, chosen, _, confidence)) in pairs.iter().enumerate() {
        seqs.push((
            [prompt.as_slice(), chosen].concat(),
            prompt.len(),
            Role::Chosen {
                pair,
                confidence: *confidence,
            },
            *i,
        ));
    }
    for (pair, (i, prompt, _, rejected, _)) in pairs.iter().enumerate() {
        seqs.push((
            [prompt.as_slice(), rejected].concat(),
            prompt.len(),
            Role::Rejected { pair },
            *i,
        ));
    }
    for &i in indices {
        if let Example::Unpaired {
            prompt,
            completion,
            desirable,
        } = &examples[i]
        {
            seqs.push((
                [prompt.as_slice(), completion].concat(),
                prompt.len(),
                Role::Unpaired {
                    desirable: *desirable,
                },
                i,
            ));
        }
    }
    for s in &mut seqs {
        if let Some(m) = max_length {
            s.0.truncate(m);
        }
    }
    let len = seqs.iter().map(|s| s.0.len()).max().unwrap_or(0).max(1);
    let mut b = Batch {
        ids: Vec::with_capacity(seqs.len() * len),
        attention: Vec::with_capacity(seqs.len() * len),
        completion: Vec::with_capacity(seqs.len() * len),
        roles: Vec::with_capacity(seqs.len()),
        rows: seqs.len(),
        len,
        examples: Vec::with_capacity(seqs.len()),
    };
    for (ids, prompt_len, role, i) in seqs {
        for p in 0..len {
            let real = p < ids.len();
            b.ids.push(if real { ids[p] } else { pad_id });
            b.attention.push(if real { 1.0 } else { 0.0 });
            b.completion
                .push(if real && p >= prompt_len { 1.0 } else { 0.0 });
        }
        b.roles.push(role);
        b.examples.push(i);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_tokenizer() -> (tempfile::TempDir, Tokenizer) {
        let dir = tempfile::tempdir().unwrap();
        crate::tiny::init_tiny(dir.path(), &crate::tiny::TinySpec::default()).unwrap();
        let tok = Tokenizer::load(dir.path(), &[256]).unwrap();
        (dir, tok)
    }

    #[test]
    fn plain_rows_tokenize_as_trl_does() {
        let (_dir, tok) = tiny_tokenizer();
        let row: Row = serde_json::from_str(
            r#"{"prompt": "Hi", "chosen": " yes", "rejected": " no<|endoftext|>"}"#,
        )
        .unwrap();
        let ex = tokenize(&[row], &tok).unwrap();
        let Example::Paired {
            prompt,
            chosen,
            rejected,
            confidence,
        } = &ex[0]
        else {
            panic!()
        };
        assert_eq!(prompt, &[u32::from(b'H'), u32::from(b'i')]);
        // EOS appended once (not twice when the text already ends with it).
        assert_eq!(
            chosen,
            &[32, u32::from(b'y'), u32::from(b'e'), u32::from(b's'), 256]
        );
        assert_eq!(rejected, &[32, u32::from(b'n'), u32::from(b'o'), 256]);
        assert_eq!(*confidence, 1.0);
        // Batches: chosen rows, then rejected rows, padded right, masks over the completion.
        let b = batch(&ex, &[0], Some(5), 256);
        assert_eq!((b.rows, b.len), (2, 5));
        assert_eq!(&b.completion[..5], &[0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(&b.attention[5..], &[1.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn chat_rows_use_the_chat_template() {
        let (_dir, tok) = tiny_tokenizer();
        let row: Row = serde_json::from_str(
            r#"{"prompt": [{"role": "user", "content": "Hi"}],
                "chosen": [{"role": "assistant", "content": "Yo"}],
                "rejected": [{"role": "assistant", "content": "No"}], "confidence": 0.8}"#,
        )
        .unwrap();
        let ex = tokenize(&[row], &tok).unwrap();
        let Example::Paired {
            prompt,
            chosen,
            confidence,
            ..
        } = &ex[0]
        else {
            panic!()
        };
        assert_eq!(tok.decode(prompt).unwrap(), "user\nHi\nassistant\n");
        assert_eq!(prompt[0], 257, "<|im_start|>");
        assert_eq!(tok.decode(chosen).unwrap(), "Yo\n");
        assert_eq!(
            chosen[chosen.len() - 2],
            258,
            "<|im_end|> closes the answer"
        );
        assert_eq!(*confidence, 0.8);
    }

    #[test]
    fn bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\"}\n").unwrap();
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
