//! The train block: `train { epochs: 200, batch: 16, seed: 42, early_stop(patience: 20) }`.

use super::args::Args;
use super::check::Checker;
use super::model::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{self, ValueKind};

impl Checker<'_> {
    pub(super) fn train(&mut self, args: &[ast::Arg], span: Span) -> Option<Train> {
        // `early_stop(...)` is the block's one positional item; the rest are named.
        let (calls, named): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
            args.iter().partition(|arg| arg.name.is_none() && matches!(arg.value.kind, ValueKind::Call(_)));
        let named: Vec<ast::Arg> = named.into_iter().cloned().collect();
        let params = ["epochs", "batch", "seed", "shuffle", "log_every"];
        let mut args = Args::bind("train", span, &named, &params, 0, &mut self.diags);
        args.require("epochs", "10");
        let epochs = args.count("epochs", 1, 1);
        let batch = match args.value("batch").map(|v| &v.kind) {
            None => Batch::Rows(32),
            Some(ValueKind::Ident(word)) if word == "full" => Batch::Full,
            Some(ValueKind::Number(_)) => Batch::Rows(args.count("batch", 32, 1)),
            Some(_) => {
                let value = args.value("batch").expect("given");
                args.wrong_type_of("batch", "a number of rows or `full`", value);
                Batch::Rows(32)
            }
        };
        let seed = args.count("seed", 0, 0) as u64;
        let shuffle = args.boolean("shuffle", true);
        let log_every = args.count("log_every", 1, 1);
        drop(args);
        let mut early_stop = None;
        for arg in calls {
            let ValueKind::Call(call) = &arg.value.kind else {
                continue;
            };
            if call.name.name != "early_stop" {
                self.unknown("train option", &call.name.name, call.name.span, &["early_stop"]);
                continue;
            }
            if early_stop.is_some() {
                self.error(
                    Diagnostic::error(Code::Duplicate, "`early_stop` is given twice").at(call.span, "given again here"),
                );
                continue;
            }
            early_stop = self.early_stop(call);
        }
        Some(Train { epochs, batch, seed, shuffle, log_every, early_stop, span })
    }

    fn early_stop(&mut self, call: &ast::Call) -> Option<EarlyStop> {
        let params = ["monitor", "patience", "min_delta", "restore_best"];
        let mut args = Args::bind("early_stop", call.span, &call.args, &params, 0, &mut self.diags);
        let monitor = match args.value("monitor").map(|v| (&v.kind, v.span)) {
            None => Monitor::ValLoss,
            Some((ValueKind::Ident(word), _)) if word == "val_loss" => Monitor::ValLoss,
            Some((ValueKind::Ident(word), _)) if word == "val_accuracy" => Monitor::ValAccuracy,
            Some((_, span)) => {
                args.error(
                    Diagnostic::error(Code::WrongType, "`monitor` is `val_loss` or `val_accuracy`")
                        .at(span, "not a monitored metric")
                        .help("write `monitor: val_loss`"),
                );
                return None;
            }
        };
        Some(EarlyStop {
            monitor,
            patience: args.count("patience", 10, 1),
            min_delta: args.number_where("min_delta", 0.0, "at least 0", |d| d >= 0.0),
            restore_best: args.boolean("restore_best", true),
        })
    }
}
