//! Class names shipped with the crate: Kinetics-400 (class index = position in the sorted
//! list, torchvision's order) and ImageNet-1k (torchvision's category order). Both lists were
//! written from `torchvision.models._meta` (torchvision 0.28).
use std::sync::OnceLock;

const KINETICS400: &str = include_str!("labels/kinetics400.txt");
const IMAGENET1K: &str = include_str!("labels/imagenet1k.txt");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSet {
    Kinetics400,
    ImageNet1k,
}

impl LabelSet {
    pub fn names(self) -> &'static [&'static str] {
        static K: OnceLock<Vec<&'static str>> = OnceLock::new();
        static I: OnceLock<Vec<&'static str>> = OnceLock::new();
        let (cell, text) = match self {
            LabelSet::Kinetics400 => (&K, KINETICS400),
            LabelSet::ImageNet1k => (&I, IMAGENET1K),
        };
        cell.get_or_init(|| text.lines().collect())
    }

    pub fn len(self) -> usize {
        self.names().len()
    }

    pub fn is_empty(self) -> bool {
        self.names().is_empty()
    }

    pub fn name(self, index: usize) -> Option<&'static str> {
        self.names().get(index).copied()
    }

    /// Index of a class name as written in the annotation files (exact match).
    pub fn index_of(self, name: &str) -> Option<usize> {
        self.names().iter().position(|n| *n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinetics_is_sorted_400() {
        let names = LabelSet::Kinetics400.names();
        assert_eq!(names.len(), 400);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            LabelSet::Kinetics400.index_of("passing American football (in game)"),
            Some(208)
        );
        assert_eq!(LabelSet::Kinetics400.name(0), Some("abseiling"));
    }

    #[test]
    fn imagenet_has_1000() {
        assert_eq!(LabelSet::ImageNet1k.len(), 1000);
        assert_eq!(LabelSet::ImageNet1k.name(0), Some("tench"));
    }
}
