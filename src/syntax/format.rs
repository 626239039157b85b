//! `nnspec fmt`: a spec in canonical form, comments kept. Statements and layers print as the
//! AST's canonical text (one per line, layers indented by four spaces, arguments as
//! `name: value`, numbers in shortest round-trip form); each comment stays with the statement
//! or layer it precedes or ends the line of; a blank line between statements is kept.

use super::ast::{Spec, Statement};
use crate::span::Source;

/// A `#` comment: its 1-based line, its text (from `#`), and whether code precedes it.
struct Comment {
    line: usize,
    text: String,
    trailing: bool,
}

fn comments(source: &Source) -> Vec<Comment> {
    let mut out = Vec::new();
    for (index, line) in source.text.split('\n').enumerate() {
        let (mut in_string, mut escaped) = (false, false);
        for (offset, c) in line.char_indices() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            } else if c == '#' {
                let trailing = !line[..offset].trim().is_empty();
                out.push(Comment { line: index + 1, text: line[offset..].trim_end().to_string(), trailing });
                break;
            }
        }
    }
    out
}

/// Where a comment goes.
#[derive(Clone, Copy, PartialEq)]
enum Anchor {
    /// Before statement `s`, or (with a layer) before layer `l` of the model.
    Before {
        statement: usize,
        layer: Option<usize>,
    },
    /// At the end of that line.
    After {
        statement: usize,
        layer: Option<usize>,
    },
    /// Before the model's closing brace.
    BlockEnd {
        statement: usize,
    },
    /// At the end of the model's closing-brace line.
    AfterBlock {
        statement: usize,
    },
    EndOfFile,
}

/// The canonical text of `spec`, whose source is `source`. `None` if the spec has statements
/// nnspec does not know (their text is not kept in the AST).
pub fn format(spec: &Spec, source: &Source) -> Option<String> {
    if spec.statements.iter().any(|s| matches!(s, Statement::Unknown(_))) {
        return None;
    }
    let line = |offset: usize| source.line_col(offset).0;
    // The first line of each statement and layer, and the last line of each model block.
    let mut items: Vec<(usize, usize, Option<usize>)> = Vec::new();
    let mut block_ends: Vec<(usize, usize)> = Vec::new();
    // The lines other statements span, so a comment inside a multi-line one stays with it.
    let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
    for (s, statement) in spec.statements.iter().enumerate() {
        match statement {
            Statement::Model(block) => {
                items.push((line(block.span.start), s, None));
                for (l, layer) in block.layers.iter().enumerate() {
                    items.push((line(layer.span.start), s, Some(l)));
                }
                block_ends.push((s, line(block.span.end.saturating_sub(1))));
            }
            Statement::Loss(value) | Statement::Optimizer(value) => {
                items.push((line(value.span.start), s, None));
                ranges.push((s, line(value.span.start), line(value.span.end.saturating_sub(1))));
            }
            Statement::Data { span, .. } | Statement::Train { span, .. } => {
                items.push((line(span.start), s, None));
                ranges.push((s, line(span.start), line(span.end.saturating_sub(1))));
            }
            Statement::Unknown(_) => {}
        }
    }
    let anchors: Vec<(Anchor, String, usize)> = comments(source)
        .into_iter()
        .map(|comment| {
            let after = comment
                .trailing
                .then(|| items.iter().rev().find(|(l, _, _)| *l == comment.line))
                .flatten()
                .map(|&(_, statement, layer)| Anchor::After { statement, layer });
            let within = ranges
                .iter()
                .find(|(_, first, last)| (*first..=*last).contains(&comment.line))
                .map(|&(statement, _, _)| Anchor::After { statement, layer: None });
            let closing = block_ends
                .iter()
                .find(|(_, end)| comment.trailing && *end == comment.line)
                .map(|&(statement, _)| Anchor::AfterBlock { statement });
            let anchor = after.or(within).or(closing).unwrap_or_else(|| {
                let next = items.iter().find(|(l, _, _)| *l > comment.line);
                let inside = block_ends.iter().find(|(s, end)| {
                    let start = items.iter().find(|(_, st, l)| st == s && l.is_none()).map_or(0, |i| i.0);
                    comment.line > start && comment.line <= *end && next.is_none_or(|n| n.1 != *s)
                });
                match (inside, next) {
                    (Some(&(statement, _)), _) => Anchor::BlockEnd { statement },
                    (None, Some(&(_, statement, layer))) => Anchor::Before { statement, layer },
                    (None, None) => Anchor::EndOfFile,
                }
            });
            (anchor, comment.text, comment.line)
        })
        .collect();
    let lines: Vec<&str> = source.text.split('\n').collect();
    let first_line_of = |statement: usize| {
        let own = items.iter().find(|(_, s, l)| *s == statement && l.is_none()).map_or(1, |i| i.0);
        // A statement's leading comments (those printed before it) start its paragraph; a
        // comment that stays inside the block above does not.
        let leading = Anchor::Before { statement, layer: None };
        let comments_before = anchors.iter().filter(|(a, _, _)| *a == leading).map(|(_, _, line)| *line).min();
        comments_before.unwrap_or(own)
    };
    let print_comments = |out: &mut String, anchor: Anchor, indent: &str| {
        for (_, text, _) in anchors.iter().filter(|(a, _, _)| *a == anchor) {
            out.push_str(&format!("{indent}{text}\n"));
        }
    };
    let trailing = |anchor: Anchor| {
        let texts: Vec<&str> = anchors.iter().filter(|(a, _, _)| *a == anchor).map(|(_, t, _)| t.as_str()).collect();
        if texts.is_empty() { String::new() } else { format!("  {}", texts.join(" ")) }
    };
    let mut out = String::new();
    for (s, statement) in spec.statements.iter().enumerate() {
        let start = first_line_of(s);
        if s > 0 && start >= 2 && lines.get(start - 2).is_some_and(|l| l.trim().is_empty()) {
            out.push('\n');
        }
        print_comments(&mut out, Anchor::Before { statement: s, layer: None }, "");
        match statement {
            Statement::Model(block) => {
                out.push_str(&format!(
                    "model {} {{{}\n",
                    block.name.name,
                    trailing(Anchor::After { statement: s, layer: None })
                ));
                for (l, layer) in block.layers.iter().enumerate() {
                    print_comments(&mut out, Anchor::Before { statement: s, layer: Some(l) }, "    ");
                    out.push_str(&format!("    {layer}{}\n", trailing(Anchor::After { statement: s, layer: Some(l) })));
                }
                print_comments(&mut out, Anchor::BlockEnd { statement: s }, "    ");
                out.push_str(&format!("}}{}\n", trailing(Anchor::AfterBlock { statement: s })));
            }
            other => out.push_str(&format!("{other}{}\n", trailing(Anchor::After { statement: s, layer: None }))),
        }
    }
    print_comments(&mut out, Anchor::EndOfFile, "");
    Some(out)
}
