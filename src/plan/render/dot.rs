//! The plan's task graph in Graphviz DOT: one cluster per wave, one node per task of each
//! group of hosts sharing a route, solid edges for per-host dependencies and dashed ones for
//! cross-host barriers.

use super::{host_names, route_groups};
use crate::plan::{Plan, Route};
use petgraph::graph::{DiGraph, NodeIndex};
use std::fmt::Write as _;

impl Route {
    /// The route as a petgraph graph: node weights are task indices, edges run from a step to
    /// the steps that wait for it. Node `i` is step `i`.
    pub fn graph(&self) -> DiGraph<u32, ()> {
        let mut g = DiGraph::with_capacity(self.steps.len(), self.steps.len());
        let nodes: Vec<NodeIndex> = self.steps.iter().map(|s| g.add_node(s.task)).collect();
        for (i, s) in self.steps.iter().enumerate() {
            for a in &s.after {
                if let Some(&from) = nodes.get(*a as usize) {
                    g.add_edge(from, nodes[i], ());
                }
            }
        }
        g
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Renders the task graph as DOT.
pub fn dot(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph {} {{", quote(&plan.workflow));
    let _ = writeln!(o, "  rankdir=LR;");
    let _ = writeln!(o, "  node [shape=box, fontname=\"monospace\"];");
    let mut barrier_edges = Vec::new();
    for (w, wave) in plan.waves.iter().enumerate() {
        let _ = writeln!(o, "  subgraph cluster_{w} {{");
        let _ = writeln!(
            o,
            "    label={};",
            quote(&format!(
                "wave {} {} ({} hosts)",
                w + 1,
                wave.name,
                wave.hosts.len()
            ))
        );
        for (g, (route, hosts)) in route_groups(wave).iter().enumerate() {
            let r = &plan.routes[*route as usize];
            let graph = r.graph();
            let hosts_label = host_names(plan, hosts);
            let id = |step: usize| format!("w{w}_g{g}_s{step}");
            for node in graph.node_indices() {
                let task = &plan.tasks[graph[node] as usize];
                let _ = writeln!(
                    o,
                    "    {} [label={}];",
                    id(node.index()),
                    quote(&format!("{}\n{}", task.name, hosts_label))
                );
            }
            for edge in graph.edge_indices() {
                if let Some((a, b)) = graph.edge_endpoints(edge) {
                    let _ = writeln!(o, "    {} -> {};", id(a.index()), id(b.index()));
                }
            }
            for (s, step) in r.steps.iter().enumerate() {
                for b in &step.barriers {
                    barrier_edges.push((w, *b, id(s)));
                }
            }
        }
        let _ = writeln!(o, "  }}");
    }
    // A barrier waits for its task in every group of the same wave that runs it.
    for (w, task, to) in barrier_edges {
        for (g, (route, _)) in route_groups(&plan.waves[w]).iter().enumerate() {
            let r = &plan.routes[*route as usize];
            for (s, step) in r.steps.iter().enumerate() {
                if step.task == task {
                    let _ = writeln!(o, "  w{w}_g{g}_s{s} -> {to} [style=dashed];");
                }
            }
        }
    }
    // Waves run in order: link the first node of each wave to the first of the next.
    for w in 1..plan.waves.len() {
        let _ = writeln!(
            o,
            "  w{}_g0_s0 -> w{w}_g0_s0 [style=dotted, label=\"next wave\"];",
            w - 1
        );
    }
    let _ = writeln!(o, "}}");
    o
}
