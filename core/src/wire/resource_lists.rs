//! resource-lists (STUB).
use super::Limits;
use crate::body::ResourceList;

/// Resource list errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceListError {
    /// Not XML.
    #[error("xml: {0}")]
    Xml(String),
}

/// Parses a resource-lists document.
pub fn decode(_xml: &[u8], _limits: &Limits) -> Result<ResourceList, ResourceListError> {
    Err(ResourceListError::Xml("stub".into()))
}

/// Prints a resource-lists document.
pub fn encode(list: &ResourceList) -> String {
    let _ = list;
    String::new()
}
