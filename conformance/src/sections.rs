//! The sections of the spec (`fixtures/sections.tsv`, a copy of
//! `../shared/spec/sections.tsv`): the anchors a scenario may cite.

use std::collections::HashMap;

/// One section of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The anchor, e.g. `event-checkexpectation`.
    pub anchor: String,
    /// Heading level (1 to 4).
    pub level: u8,
    /// The heading as written in the spec.
    pub title: String,
}

/// The sections, in document order.
#[derive(Debug, Clone)]
pub struct Sections {
    list: Vec<Section>,
    index: HashMap<String, usize>,
}

impl Sections {
    /// The table compiled into the binary.
    pub fn embedded() -> Sections {
        Sections::parse(include_str!("../../fixtures/sections.tsv"))
    }

    /// Parses `anchor<TAB>level<TAB>title` lines after a header line.
    pub fn parse(text: &str) -> Sections {
        let list: Vec<Section> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split('\t');
                let anchor = f.next()?.trim().to_owned();
                let level = f.next()?.trim().parse().ok()?;
                let title = f.next().unwrap_or_default().trim().to_owned();
                (!anchor.is_empty()).then_some(Section {
                    anchor,
                    level,
                    title,
                })
            })
            .collect();
        let index = list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.anchor.clone(), i))
            .collect();
        Sections { list, index }
    }

    /// Whether `anchor` is a section.
    pub fn contains(&self, anchor: &str) -> bool {
        self.index.contains_key(anchor)
    }

    /// The section with this anchor.
    pub fn get(&self, anchor: &str) -> Option<&Section> {
        self.index.get(anchor).map(|&i| &self.list[i])
    }

    /// Position in the document (for sorting reports in spec order).
    pub fn position(&self, anchor: &str) -> usize {
        self.index.get(anchor).copied().unwrap_or(usize::MAX)
    }

    /// All sections in document order.
    pub fn iter(&self) -> impl Iterator<Item = &Section> {
        self.list.iter()
    }

    /// How many sections there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_has_every_section() {
        let s = Sections::embedded();
        assert_eq!(s.len(), 172);
        assert!(s.contains("event-checkexpectation"));
        assert_eq!(s.get("httpmethods").unwrap().level, 2);
        assert!(s.position("http") < s.position("websocket"));
    }
}
