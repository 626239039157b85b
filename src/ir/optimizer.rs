//! The optimizer statement, with its learning-rate schedule and gradient clipping:
//! `optimizer adam(lr: 0.01, weight_decay: 1e-4, schedule: warmup(5, then: cosine(to: 0, over: 95)))`.

use super::args::Args;
use super::check::Checker;
use super::model::OptimizerSpec;
use crate::diagnostic::{Code, Diagnostic};
use crate::kernels::optim::{Adam, Optimizer, RmsProp, Sgd};
use crate::kernels::schedule::Schedule;
use crate::syntax::ast::Value;

/// Arguments every optimizer takes besides its own.
const COMMON: [&str; 2] = ["schedule", "clip_norm"];

impl Checker<'_> {
    pub(super) fn optimizer(&mut self, value: &Value) -> Option<OptimizerSpec> {
        let (name, span, args) = self.named(value, "an optimizer")?;
        let own: &[&'static str] = match name {
            "sgd" => &["lr", "momentum", "nesterov", "weight_decay"],
            "adam" | "adamw" => &["lr", "beta1", "beta2", "eps", "weight_decay"],
            "rmsprop" => &["lr", "alpha", "eps", "momentum", "weight_decay"],
            _ => {
                self.unknown("optimizer", name, span, &Optimizer::KEYWORDS);
                return None;
            }
        };
        let params: Vec<&'static str> = own.iter().chain(&COMMON).copied().collect();
        let schedule_value =
            args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == "schedule")).map(|a| &a.value);
        let mut args = Args::bind(name, value.span, args, &params, 1, &mut self.diags);
        let positive = "a number above 0";
        let fraction = "in [0, 1)";
        let in_unit = |x: f64| (0.0..1.0).contains(&x);
        let optimizer = match name {
            "sgd" => {
                let d = Sgd::default();
                let sgd = Sgd {
                    lr: args.number_where("lr", d.lr, positive, |x| x > 0.0),
                    momentum: args.number_where("momentum", d.momentum, fraction, in_unit),
                    nesterov: args.boolean("nesterov", d.nesterov),
                    weight_decay: args.number_where("weight_decay", d.weight_decay, "at least 0", |x| x >= 0.0),
                };
                if sgd.nesterov && sgd.momentum == 0.0 {
                    let span = args.value("nesterov").expect("given").span;
                    args.error(
                        Diagnostic::error(Code::OutOfRange, "Nesterov momentum needs a momentum above 0")
                            .at(span, "nesterov without momentum")
                            .help("add `momentum: 0.9`"),
                    );
                }
                Optimizer::Sgd(sgd)
            }
            "adam" | "adamw" => {
                let d = if name == "adamw" { Adam::adamw() } else { Adam::default() };
                Optimizer::Adam(Adam {
                    lr: args.number_where("lr", d.lr, positive, |x| x > 0.0),
                    beta1: args.number_where("beta1", d.beta1, fraction, in_unit),
                    beta2: args.number_where("beta2", d.beta2, fraction, in_unit),
                    eps: args.number_where("eps", d.eps, positive, |x| x > 0.0),
                    weight_decay: args.number_where("weight_decay", d.weight_decay, "at least 0", |x| x >= 0.0),
                    decoupled: d.decoupled,
                })
            }
            _ => {
                let d = RmsProp::default();
                Optimizer::RmsProp(RmsProp {
                    lr: args.number_where("lr", d.lr, positive, |x| x > 0.0),
                    alpha: args.number_where("alpha", d.alpha, fraction, in_unit),
                    eps: args.number_where("eps", d.eps, positive, |x| x > 0.0),
                    momentum: args.number_where("momentum", d.momentum, fraction, in_unit),
                    weight_decay: args.number_where("weight_decay", d.weight_decay, "at least 0", |x| x >= 0.0),
                })
            }
        };
        let clip_norm = args.has("clip_norm").then(|| args.number_where("clip_norm", 1.0, positive, |x| x > 0.0));
        drop(args);
        let schedule = match schedule_value {
            Some(value) => self.schedule(value)?,
            None => Schedule::Constant,
        };
        Some(OptimizerSpec { optimizer, schedule, clip_norm, span: value.span })
    }

    fn schedule(&mut self, value: &Value) -> Option<Schedule> {
        let (name, span, args) = self.named(value, "a schedule")?;
        let params: &[&'static str] = match name {
            "constant" => &[],
            "step" => &["every", "gamma"],
            "exponential" => &["gamma"],
            "cosine" => &["to", "over"],
            "warmup" => &["epochs", "then"],
            _ => {
                self.unknown("schedule", name, span, &Schedule::KEYWORDS);
                return None;
            }
        };
        let mut args = Args::bind(name, value.span, args, params, params.len(), &mut self.diags);
        let gamma = |args: &mut Args| args.number_where("gamma", 0.1, "in (0, 1]", |g| g > 0.0 && g <= 1.0);
        let schedule = match name {
            "constant" => Schedule::Constant,
            "step" => {
                args.require("every", "30");
                Schedule::Step { every: args.count("every", 1, 1), gamma: gamma(&mut args) }
            }
            "exponential" => {
                args.require("gamma", "0.95");
                Schedule::Exponential { gamma: gamma(&mut args) }
            }
            "cosine" => {
                args.require("over", "100");
                let to = args.number_where("to", 0.0, "at least 0", |x| x >= 0.0);
                Schedule::Cosine { to, over: args.count("over", 1, 1) }
            }
            _ => {
                args.require("epochs", "5");
                let epochs = args.count("epochs", 1, 1);
                let then = args.value("then");
                drop(args);
                let then = match then {
                    Some(value) => self.schedule(value)?,
                    None => Schedule::Constant,
                };
                return Some(Schedule::Warmup { epochs, then: Box::new(then) });
            }
        };
        Some(schedule)
    }
}
