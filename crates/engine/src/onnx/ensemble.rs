//! An ensemble as one ONNX graph: each member's graph with its value, node and initializer names
//! prefixed (`m0.`, `m1.`, …) reading the one shared input, and their raw outputs weighed and
//! summed into the graph's output, so the target's head applies once, as for any model.

use super::document::emit_body;
use super::emit::{INPUT_NAME, OUTPUT_NAME};
use super::graph::GraphBuilder;
use crate::error::Result;
use crate::training::EnsembleModel;

/// Emits every member and the weighted sum, from `INPUT_NAME` to `OUTPUT_NAME`.
pub fn emit_ensemble(g: &mut GraphBuilder, ensemble: &EnsembleModel, steps: usize) -> Result<()> {
    let mut weighted = Vec::with_capacity(ensemble.members.len());
    for (i, (member, weight)) in ensemble.members.iter().zip(ensemble.weights()).enumerate() {
        let mut sub = GraphBuilder::default();
        emit_body(&mut sub, member, steps)?;
        let prefix = format!("m{i}.");
        let rename = |name: &str| {
            // The shared input keeps its name; an empty name is an omitted optional input.
            if name == INPUT_NAME || name.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}{name}")
            }
        };
        for mut node in sub.nodes {
            node.name = node.name.map(|n| rename(&n));
            node.input = node.input.iter().map(|n| rename(n)).collect();
            node.output = node.output.iter().map(|n| rename(n)).collect();
            g.nodes.push(node);
        }
        for mut tensor in sub.initializers {
            tensor.name = tensor.name.map(|n| rename(&n));
            g.initializers.push(tensor);
        }
        let w = g.f32_tensor(&format!("{prefix}weight"), &[], vec![weight as f32]);
        weighted.push(g.node("Mul", &[&rename(OUTPUT_NAME), &w], vec![]));
    }
    let inputs: Vec<&str> = weighted.iter().map(String::as_str).collect();
    g.node_into("Sum", &inputs, &[OUTPUT_NAME], vec![]);
    Ok(())
}
