//! Ansible inventories, parsed without IO: INI and YAML inventory files and the JSON that a
//! dynamic inventory prints for `--list`, turned into one neutral [`AnsibleInventory`] (hosts
//! with sflow attributes and group vars applied, groups with their resolved members and
//! children). Problems are [`InventoryError`]s with file, line and column.
//!
//! Ansible's connection variables become sflow's host attributes: `ansible_host` → `address`,
//! `ansible_port` → `port`, `ansible_user` → `user`, `ansible_connection=local` →
//! `transport = "local"`, and a ProxyJump in `ansible_ssh_common_args` → `jump`. Every other
//! variable is kept as a free string attribute.

mod build;
mod error;
mod ini;
mod json;
mod pattern;
pub mod program;
mod ssh_args;
mod yaml;

#[cfg(test)]
mod tests;

pub use error::{InventoryError, InventoryErrorKind};

use std::collections::BTreeMap;
use std::ops::Range;

/// The inventory formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ansible's INI inventory (`hosts.ini`, `hosts`).
    Ini,
    /// Ansible's YAML inventory (`hosts.yaml`, `hosts.yml`).
    Yaml,
    /// The JSON of Ansible's dynamic inventory protocol (`script --list`).
    Json,
}

impl Format {
    /// The format a file name suggests: `.yaml`/`.yml` → YAML, `.json` → JSON, `.ini` → INI;
    /// `None` for anything else (use [`Format::sniff`]).
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(Format::Yaml)
        } else if lower.ends_with(".json") {
            Some(Format::Json)
        } else if lower.ends_with(".ini") {
            Some(Format::Ini)
        } else {
            None
        }
    }

    /// The format of `text` judged by its content: a leading `{` is JSON, a first
    /// significant line that is a `[section]` or a host line is INI, anything else YAML.
    pub fn sniff(text: &str) -> Format {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
        match first {
            Some(l) if l.starts_with('{') => Format::Json,
            Some(l) if l == "---" || l.ends_with(':') || l.contains(": ") => Format::Yaml,
            Some(_) => Format::Ini,
            None => Format::Ini,
        }
    }
}

/// A resolved Ansible inventory in sflow's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnsibleInventory {
    /// Hosts in order of first appearance; jump hosts named only in a ProxyJump come last,
    /// marked [`InventoryHost::implicit`].
    pub hosts: Vec<InventoryHost>,
    /// Groups in order of first appearance. Ansible's implicit `all` is left out (sflow has
    /// its own `all`); `ungrouped` is kept when it has members.
    pub groups: Vec<InventoryGroup>,
    /// Things Ansible itself only warns about (an unexpected key in a YAML group, ...).
    pub warnings: Vec<InventoryError>,
}

impl AnsibleInventory {
    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&InventoryHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&InventoryGroup> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// One host with its sflow attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryHost {
    /// Its name (the inventory hostname).
    pub name: String,
    /// Attributes after group and host vars were merged the way Ansible does (`all`, then
    /// groups by depth and name, then the host's own vars) and mapped to sflow's names:
    /// `address`, `port`, `user`, `jump`, `transport`, and every other variable as is.
    pub attrs: BTreeMap<String, String>,
    /// Every group it belongs to, directly or through `children`, sorted (without `all`).
    pub groups: Vec<String>,
    /// Byte range of its first mention in the source, when known.
    pub span: Option<Range<usize>>,
    /// True for a jump host that only a ProxyJump names: it is not an inventory host in
    /// Ansible's sense, so it belongs to no group.
    pub implicit: bool,
}

/// One group with its resolved members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryGroup {
    /// Its name.
    pub name: String,
    /// Every member host, directly or through children, in host order.
    pub hosts: Vec<String>,
    /// Its direct child groups, in order of appearance.
    pub children: Vec<String>,
    /// Its own vars, as written (before mapping to sflow attributes).
    pub vars: BTreeMap<String, String>,
    /// Byte range of its first mention in the source, when known.
    pub span: Option<Range<usize>>,
}

/// Parses `text` (the contents of the file or command output called `name`, used in error
/// messages) in `format`.
///
/// # Errors
/// Every problem found, sorted by position.
pub fn parse(
    name: &str,
    text: &str,
    format: Format,
) -> Result<AnsibleInventory, Vec<InventoryError>> {
    let mut builder = build::Builder::new(name, text);
    match format {
        Format::Ini => ini::read(text, &mut builder),
        Format::Yaml => yaml::read(text, &mut builder),
        Format::Json => json::read(text, &mut builder),
    }
    builder.finish()
}

/// Parses a file, choosing the format from its name and else from its content.
///
/// # Errors
/// Every problem found, sorted by position.
pub fn parse_file(name: &str, text: &str) -> Result<AnsibleInventory, Vec<InventoryError>> {
    let format = Format::from_path(name).unwrap_or_else(|| Format::sniff(text));
    parse(name, text, format)
}
