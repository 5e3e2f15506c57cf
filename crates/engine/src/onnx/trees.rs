//! Writes a LightGBM model as ONNX: the tabular rule (`gbdt::tabular`) as standard operators,
//! then one `ai.onnx.ml` `TreeEnsembleRegressor` holding every kept tree, so the file takes the
//! networks' input (`features`, `[batch, L, F]` float32) and gives their output.
//!
//! Equality with LightGBM, not closeness: the window statistics are computed in double and
//! rounded to float once, as the native rule does, so both feed the trees the same float row;
//! each split threshold (a double in LightGBM) is written as the largest float not above it, so
//! `x <= threshold` decides the same for every float `x`. Only the sum of leaf values differs
//! (float in ONNX Runtime, double in LightGBM).

use super::emit::{INPUT_NAME, OUTPUT_NAME};
use super::graph::{GraphBuilder, attr_floats, attr_int, attr_ints, attr_string, attr_strings};
use super::proto::NodeProto;
use super::proto::tensor_proto::DataType;
use crate::error::{Error, Result};
use crate::gbdt::GbdtModel;
use crate::gbdt::tabular::{COLUMNS_PER_FEATURE, LAST_BARS};

/// The operator set of `TreeEnsembleRegressor` used (version 3 of `ai.onnx.ml`).
pub const ML_DOMAIN: &str = "ai.onnx.ml";
pub const ML_OPSET: i64 = 3;

/// One LightGBM tree as its model file lists it.
#[derive(Debug, Default, PartialEq)]
struct Tree {
    leaves: usize,
    split_feature: Vec<i64>,
    threshold: Vec<f64>,
    decision_type: Vec<u32>,
    left_child: Vec<i64>,
    right_child: Vec<i64>,
    leaf_value: Vec<f64>,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Export(format!("LightGBM model: {what}"))
}

fn numbers<T: std::str::FromStr>(key: &str, value: &str) -> Result<Vec<T>> {
    value
        .split_whitespace()
        .map(|v| v.parse().map_err(|_| bad(format!("{key} holds {v:?}"))))
        .collect()
}

/// The trees of LightGBM model text, refusing what the regressor cannot express (categorical
/// splits, linear trees, zeros treated as missing).
fn parse_trees(text: &str) -> Result<Vec<Tree>> {
    let mut trees: Vec<Tree> = Vec::new();
    for line in text.lines() {
        if line.starts_with("end of trees") {
            break;
        }
        if line.starts_with("Tree=") {
            trees.push(Tree::default());
            continue;
        }
        let (Some(tree), Some((key, value))) = (trees.last_mut(), line.split_once('=')) else {
            continue;
        };
        match key {
            "num_leaves" => {
                tree.leaves = value.trim().parse().map_err(|_| bad("num_leaves"))?;
            }
            "num_cat" if value.trim() != "0" => {
                return Err(bad("categorical splits cannot be exported"));
            }
            "is_linear" if value.trim() != "0" => {
                return Err(bad("linear trees cannot be exported"));
            }
            "split_feature" => tree.split_feature = numbers(key, value)?,
            "threshold" => tree.threshold = numbers(key, value)?,
            "decision_type" => tree.decision_type = numbers(key, value)?,
            "left_child" => tree.left_child = numbers(key, value)?,
            "right_child" => tree.right_child = numbers(key, value)?,
            "leaf_value" => tree.leaf_value = numbers(key, value)?,
            _ => {}
        }
    }
    for (i, t) in trees.iter().enumerate() {
        let inner = t.leaves.saturating_sub(1);
        let lengths = [
            t.split_feature.len(),
            t.threshold.len(),
            t.decision_type.len(),
            t.left_child.len(),
            t.right_child.len(),
        ];
        if t.leaves == 0 || t.leaf_value.len() != t.leaves || lengths.iter().any(|&n| n != inner) {
            return Err(bad(format!("tree {i} is incomplete")));
        }
        for &d in &t.decision_type {
            if d & 1 != 0 {
                return Err(bad("categorical splits cannot be exported"));
            }
            if (d >> 2) & 3 == 1 {
                return Err(bad(
                    "a split treats zeros as missing, which ONNX cannot express",
                ));
            }
        }
    }
    if trees.is_empty() {
        return Err(bad("no trees"));
    }
    Ok(trees)
}

/// The largest float not above `x`: `f <= this` exactly when `f <= x`, for every float `f`.
fn f32_at_most(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x { f.next_down() } else { f }
}

/// `TreeEnsembleRegressor` attributes: every node of every tree, then every leaf's value.
#[derive(Debug, Default)]
struct Ensemble {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    modes: Vec<&'static str>,
    values: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    missing_tracks_true: Vec<i64>,
    target_tree_ids: Vec<i64>,
    target_node_ids: Vec<i64>,
    target_weights: Vec<f32>,
}

fn ensemble(trees: &[Tree], columns: usize) -> Result<Ensemble> {
    let mut e = Ensemble::default();
    for (tree_id, t) in trees.iter().enumerate() {
        let tree_id = tree_id as i64;
        // Internal node i is node i; leaf k is node (leaves - 1) + k.
        let inner = t.leaves as i64 - 1;
        let child = |c: i64| -> Result<i64> {
            let id = if c >= 0 { c } else { inner + (-c - 1) };
            if (0..inner + t.leaves as i64).contains(&id) {
                Ok(id)
            } else {
                Err(bad(format!("tree {tree_id} points at node {c}")))
            }
        };
        for i in 0..inner as usize {
            let feature = t.split_feature[i];
            if !(0..columns as i64).contains(&feature) {
                return Err(bad(format!("a split reads column {feature} of {columns}")));
            }
            e.tree_ids.push(tree_id);
            e.node_ids.push(i as i64);
            e.feature_ids.push(feature);
            e.modes.push("BRANCH_LEQ");
            e.values.push(f32_at_most(t.threshold[i]));
            e.true_ids.push(child(t.left_child[i])?);
            e.false_ids.push(child(t.right_child[i])?);
            // NaN goes where LightGBM sends missing values (atb's inputs are never NaN).
            let default_left = t.decision_type[i] & 2 != 0;
            e.missing_tracks_true.push(i64::from(default_left));
        }
        for (k, &value) in t.leaf_value.iter().enumerate() {
            let node = inner + k as i64;
            e.tree_ids.push(tree_id);
            e.node_ids.push(node);
            e.feature_ids.push(0);
            e.modes.push("LEAF");
            e.values.push(0.0);
            e.true_ids.push(0);
            e.false_ids.push(0);
            e.missing_tracks_true.push(0);
            e.target_tree_ids.push(tree_id);
            e.target_node_ids.push(node);
            e.target_weights.push(value as f32);
        }
    }
    Ok(e)
}

/// Emits the tabular rule and the trees, from `INPUT_NAME` (`[B, L, F]`) to `OUTPUT_NAME`
/// (`[B, 1]`). Returns the graph's nodes' extra opset (`ai.onnx.ml`).
pub fn emit_trees(g: &mut GraphBuilder, model: &GbdtModel) -> Result<()> {
    let trees = parse_trees(&model.text)?;
    let features = model.features;
    let columns = features * COLUMNS_PER_FEATURE;
    let x = INPUT_NAME;
    let axis1 = vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)];
    // The last bars, newest first: x[:, L-1], x[:, L-2], ... -> [B, LAST_BARS, F].
    let starts = g.i64_tensor("last_starts", &[-1]);
    let ends = g.i64_tensor("last_ends", &[-(LAST_BARS as i64) - 1]);
    let axes = g.i64_tensor("last_axes", &[1]);
    let steps = g.i64_tensor("last_steps", &[-1]);
    let last = g.node("Slice", &[x, &starts, &ends, &axes, &steps], vec![]);
    // Mean and population standard deviation in double, two passes, then float.
    let xd = g.node("Cast", &[x], vec![attr_int("to", DataType::Double as i64)]);
    let mean = g.node("ReduceMean", &[&xd], axis1.clone());
    let centred = g.node("Sub", &[&xd, &mean], vec![]);
    let squared = g.node("Mul", &[&centred, &centred], vec![]);
    let variance = g.node("ReduceMean", &[&squared], axis1.clone());
    let std = g.node("Sqrt", &[&variance], vec![]);
    let to_float = || vec![attr_int("to", DataType::Float as i64)];
    let mean = g.node("Cast", &[&mean], to_float());
    let std = g.node("Cast", &[&std], to_float());
    let min = g.node("ReduceMin", &[x], axis1.clone());
    let max = g.node("ReduceMax", &[x], axis1);
    // [B, 7, F] -> [B, F, 7] -> [B, 7F]: feature by feature, as `tabular::push_row` lays it out.
    let stacked = g.node(
        "Concat",
        &[&last, &mean, &std, &min, &max],
        vec![attr_int("axis", 1)],
    );
    let per_feature = g.node(
        "Transpose",
        &[&stacked],
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    let shape = g.i64_tensor("row_shape", &[0, columns as i64]);
    let rows = g.node("Reshape", &[&per_feature, &shape], vec![]);

    let e = ensemble(&trees, columns)?;
    let name = g.fresh("TreeEnsembleRegressor");
    g.nodes.push(NodeProto {
        name: Some(name),
        op_type: Some("TreeEnsembleRegressor".into()),
        domain: Some(ML_DOMAIN.into()),
        input: vec![rows],
        output: vec![OUTPUT_NAME.into()],
        attribute: vec![
            attr_int("n_targets", 1),
            attr_string("aggregate_function", "SUM"),
            attr_string("post_transform", "NONE"),
            attr_floats("base_values", &[0.0]),
            attr_ints("nodes_treeids", &e.tree_ids),
            attr_ints("nodes_nodeids", &e.node_ids),
            attr_ints("nodes_featureids", &e.feature_ids),
            attr_strings("nodes_modes", &e.modes),
            attr_floats("nodes_values", &e.values),
            attr_ints("nodes_truenodeids", &e.true_ids),
            attr_ints("nodes_falsenodeids", &e.false_ids),
            attr_ints("nodes_missing_value_tracks_true", &e.missing_tracks_true),
            attr_ints("target_treeids", &e.target_tree_ids),
            attr_ints("target_nodeids", &e.target_node_ids),
            attr_ints("target_ids", &vec![0; e.target_weights.len()]),
            attr_floats("target_weights", &e.target_weights),
        ],
        ..NodeProto::default()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_TREES: &str = "tree\nversion=v4\n\nTree=0\nnum_leaves=3\nnum_cat=0\n\
        split_feature=2 0\nsplit_gain=1 1\nthreshold=0.5 -1.0000000000000001e-300\n\
        decision_type=2 0\nleft_child=1 -1\nright_child=-2 -3\nleaf_value=0.1 0.2 0.3\n\
        is_linear=0\nshrinkage=1\n\n\nTree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\n\
        split_gain=\nthreshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=-0.05\n\
        is_linear=0\nshrinkage=1\n\n\nend of trees\n\nfeature_importances:\n";

    #[test]
    fn trees_become_numbered_nodes_with_leaves_after_the_splits() {
        let trees = parse_trees(TWO_TREES).unwrap();
        assert_eq!(trees.len(), 2);
        assert_eq!(trees[1].leaves, 1);
        let e = ensemble(&trees, 7).unwrap();
        assert_eq!(e.node_ids, [0, 1, 2, 3, 4, 0]);
        assert_eq!(e.tree_ids, [0, 0, 0, 0, 0, 1]);
        assert_eq!(
            e.modes,
            ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF", "LEAF"]
        );
        // Node 0: left is internal node 1, right is leaf 1 (node 3).
        assert_eq!((e.true_ids[0], e.false_ids[0]), (1, 3));
        assert_eq!((e.true_ids[1], e.false_ids[1]), (2, 4));
        assert_eq!(e.missing_tracks_true[..2], [1, 0]);
        assert_eq!(e.target_node_ids, [2, 3, 4, 0]);
        assert_eq!(e.target_weights, [0.1, 0.2, 0.3, -0.05]);
        // A split on a column the row does not have is refused.
        assert!(ensemble(&trees, 2).is_err());
    }

    #[test]
    fn thresholds_round_down_so_every_float_takes_the_same_branch() {
        for x in [0.1f64, -0.1, 1.0 / 3.0, 1e-300, -1e-300, 2.5, 0.0] {
            let t = f32_at_most(x);
            assert!(f64::from(t) <= x, "{x}");
            assert!(f64::from(t.next_up()) > x, "{x}");
        }
    }

    #[test]
    fn what_the_regressor_cannot_express_is_refused() {
        let categorical = TWO_TREES.replacen("num_cat=0", "num_cat=1", 1);
        assert!(parse_trees(&categorical).is_err());
        let zero_missing = TWO_TREES.replacen("decision_type=2 0", "decision_type=4 0", 1);
        let e = parse_trees(&zero_missing).unwrap_err().to_string();
        assert!(e.contains("zeros as missing"), "{e}");
        let truncated = TWO_TREES.replacen("leaf_value=0.1 0.2 0.3", "leaf_value=0.1", 1);
        assert!(parse_trees(&truncated).is_err());
    }
}
