//! Names other frameworks use (Keras, PyTorch, scikit-learn) and what nnspec calls them, so
//! that `learning_rate` gets "did you mean `lr`?" where edit distance would find nothing, or the
//! wrong name (`val_acc` is closer to `val_loss` than to `val_accuracy`).

/// What a foreign name means in nnspec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Means {
    /// nnspec's name for it, suggested where that name is one of the candidates.
    Name(&'static str),
    /// A different construct: this help, wherever the name appears.
    Instead(&'static str),
}

/// Foreign names (lower case) and their meanings, in the order they are tried: a name may mean
/// one thing where that thing is a candidate and another elsewhere (`linear`: a dense layer
/// among layers, `identity` among activations).
const ALIASES: &[(&str, Means)] = &[
    // Losses.
    ("binary_crossentropy", Means::Name("bce")),
    ("binary_cross_entropy", Means::Name("bce")),
    ("binary_cross_entropy_with_logits", Means::Name("bce")),
    ("bcewithlogitsloss", Means::Name("bce")),
    ("bceloss", Means::Name("bce")),
    ("log_loss", Means::Name("bce")),
    ("categorical_crossentropy", Means::Name("cross_entropy")),
    ("sparse_categorical_crossentropy", Means::Name("cross_entropy")),
    ("categorical_cross_entropy", Means::Name("cross_entropy")),
    ("crossentropyloss", Means::Name("cross_entropy")),
    ("crossentropy", Means::Name("cross_entropy")),
    ("nll_loss", Means::Name("cross_entropy")),
    ("nllloss", Means::Name("cross_entropy")),
    ("mean_squared_error", Means::Name("mse")),
    ("mseloss", Means::Name("mse")),
    ("l2", Means::Name("mse")),
    ("mean_absolute_error", Means::Name("mae")),
    ("l1loss", Means::Name("mae")),
    ("l1", Means::Name("mae")),
    ("huber_loss", Means::Name("huber")),
    ("huberloss", Means::Name("huber")),
    ("smooth_l1_loss", Means::Name("huber")),
    // Optimizer arguments.
    ("learning_rate", Means::Name("lr")),
    ("learningrate", Means::Name("lr")),
    ("epsilon", Means::Name("eps")),
    ("rho", Means::Name("alpha")),
    ("clipnorm", Means::Name("clip_norm")),
    ("max_norm", Means::Name("clip_norm")),
    ("betas", Means::Instead("nnspec takes the two coefficients apart: `beta1: 0.9, beta2: 0.999`")),
    ("lr_scheduler", Means::Name("schedule")),
    ("scheduler", Means::Name("schedule")),
    // Schedules.
    ("steplr", Means::Name("step")),
    ("exponentiallr", Means::Name("exponential")),
    ("exponential_decay", Means::Name("exponential")),
    ("cosineannealinglr", Means::Name("cosine")),
    ("cosine_annealing", Means::Name("cosine")),
    ("cosine_decay", Means::Name("cosine")),
    // The train block.
    ("batch_size", Means::Name("batch")),
    ("batchsize", Means::Name("batch")),
    ("num_epochs", Means::Name("epochs")),
    ("max_epochs", Means::Name("epochs")),
    ("n_epochs", Means::Name("epochs")),
    ("random_state", Means::Name("seed")),
    ("manual_seed", Means::Name("seed")),
    ("log_interval", Means::Name("log_every")),
    ("restore_best_weights", Means::Name("restore_best")),
    ("early_stopping", Means::Instead("early stopping is `early_stop(patience: 10)` in the train block")),
    ("earlystopping", Means::Instead("early stopping is `early_stop(patience: 10)` in the train block")),
    ("reducelronplateau", Means::Name("reduce_lr")),
    ("reduce_lr_on_plateau", Means::Name("reduce_lr")),
    (
        "validation_split",
        Means::Instead("hold out validation rows after the data source: `data csv(...) split(validation: 0.2)`"),
    ),
    (
        "val_split",
        Means::Instead("hold out validation rows after the data source: `data csv(...) split(validation: 0.2)`"),
    ),
    ("validation_data", Means::Name("validation")),
    // Monitored and extra metrics.
    ("val_acc", Means::Name("val_accuracy")),
    ("val_mean_absolute_error", Means::Name("val_mae")),
    ("val_f1_score", Means::Name("val_f1")),
    ("f1_score", Means::Name("f1")),
    ("roc_auc", Means::Name("auc")),
    ("accuracy", Means::Name("val_accuracy")),
    ("acc", Means::Name("val_accuracy")),
    ("loss", Means::Name("val_loss")),
    (
        "accuracy",
        Means::Instead("accuracy is always reported for classifiers: `metrics` adds precision, recall, f1, auc"),
    ),
    ("acc", Means::Instead("accuracy is always reported for classifiers: `metrics` adds precision, recall, f1, auc")),
    // Layers and activations.
    ("linear", Means::Name("dense")),
    ("linear", Means::Name("identity")),
    ("fully_connected", Means::Name("dense")),
    ("fc", Means::Name("dense")),
    ("batchnorm1d", Means::Name("batch_norm")),
    ("batchnorm", Means::Name("batch_norm")),
    ("batch_normalization", Means::Name("batch_norm")),
    ("batchnormalization", Means::Name("batch_norm")),
    ("layernorm", Means::Name("layer_norm")),
    ("layer_normalization", Means::Name("layer_norm")),
    ("layernormalization", Means::Name("layer_norm")),
    ("none", Means::Name("identity")),
    // Initialisers.
    ("kaiming_uniform", Means::Name("he")),
    ("kaiming_normal", Means::Name("he_normal")),
    ("glorot", Means::Name("xavier")),
    ("random_uniform", Means::Name("uniform")),
    // Data.
    ("label", Means::Name("target")),
    ("labels", Means::Name("target")),
    ("target_column", Means::Name("target")),
    ("num_classes", Means::Name("classes")),
    ("n_classes", Means::Name("classes")),
    ("nb_classes", Means::Name("classes")),
    ("sep", Means::Name("delimiter")),
    ("separator", Means::Name("delimiter")),
    ("usecols", Means::Name("features")),
    ("read_csv", Means::Name("csv")),
    // Statements.
    ("criterion", Means::Name("loss")),
    ("loss_fn", Means::Name("loss")),
    ("optim", Means::Name("optimizer")),
    ("fit", Means::Name("train")),
];

/// The help for `name` where `candidates` are the names allowed, if `name` is another
/// framework's name for one of them (or for something nnspec writes differently).
pub fn suggest(name: &str, candidates: &[&str]) -> Option<String> {
    let lower = name.to_lowercase();
    ALIASES.iter().filter(|(foreign, _)| *foreign == lower).find_map(|(_, means)| match means {
        Means::Name(ours) if candidates.contains(ours) => {
            Some(format!("did you mean `{ours}`? (nnspec's name for `{name}`)"))
        }
        Means::Name(_) => None,
        Means::Instead(help) => Some(help.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_name_is_suggested_only_where_its_meaning_is_allowed() {
        assert_eq!(
            suggest("learning_rate", &["lr", "momentum"]).as_deref(),
            Some("did you mean `lr`? (nnspec's name for `learning_rate`)")
        );
        assert_eq!(
            suggest("Learning_Rate", &["lr"]).as_deref(),
            Some("did you mean `lr`? (nnspec's name for `Learning_Rate`)")
        );
        assert_eq!(suggest("learning_rate", &["epochs", "batch"]), None);
        assert_eq!(
            suggest("linear", &["dense", "identity"]).as_deref(),
            Some("did you mean `dense`? (nnspec's name for `linear`)")
        );
        assert_eq!(
            suggest("linear", &["sigmoid", "identity"]).as_deref(),
            Some("did you mean `identity`? (nnspec's name for `linear`)")
        );
        assert!(suggest("validation_split", &["epochs"]).is_some_and(|help| help.contains("split(validation: 0.2)")));
        assert_eq!(suggest("tanhh", &["tanh"]), None);
    }

    #[test]
    fn every_foreign_name_is_written_in_lower_case_and_is_not_one_of_ours() {
        for (foreign, means) in ALIASES {
            assert_eq!(*foreign, foreign.to_lowercase());
            if let Means::Name(ours) = means {
                assert_ne!(foreign, ours);
            }
        }
    }
}
