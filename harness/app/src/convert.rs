//! The one place that converts between the harness's `AttrValue` and the AWS
//! SDK's `AttributeValue`.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use cutover_core::item_size::{AttrValue, Item};

pub fn to_sdk(value: &AttrValue) -> AttributeValue {
    match value {
        AttrValue::S(text) => AttributeValue::S(text.clone()),
        AttrValue::N(number) => AttributeValue::N(number.clone()),
        AttrValue::B(bytes) => AttributeValue::B(Blob::new(bytes.clone())),
        AttrValue::Bool(b) => AttributeValue::Bool(*b),
        AttrValue::Null => AttributeValue::Null(true),
        AttrValue::L(values) => AttributeValue::L(values.iter().map(to_sdk).collect()),
        AttrValue::M(map) => {
            AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect())
        }
        AttrValue::Ss(texts) => AttributeValue::Ss(texts.clone()),
        AttrValue::Ns(numbers) => AttributeValue::Ns(numbers.clone()),
        AttrValue::Bs(blobs) => {
            AttributeValue::Bs(blobs.iter().map(|b| Blob::new(b.clone())).collect())
        }
    }
}

/// `None` for a value type this SDK version knows but the harness does not.
pub fn from_sdk(value: &AttributeValue) -> Option<AttrValue> {
    Some(match value {
        AttributeValue::S(text) => AttrValue::S(text.clone()),
        AttributeValue::N(number) => AttrValue::N(number.clone()),
        AttributeValue::B(blob) => AttrValue::B(blob.as_ref().to_vec()),
        AttributeValue::Bool(b) => AttrValue::Bool(*b),
        AttributeValue::Null(_) => AttrValue::Null,
        AttributeValue::L(values) => {
            AttrValue::L(values.iter().map(from_sdk).collect::<Option<_>>()?)
        }
        AttributeValue::M(map) => AttrValue::M(
            map.iter()
                .map(|(k, v)| Some((k.clone(), from_sdk(v)?)))
                .collect::<Option<_>>()?,
        ),
        AttributeValue::Ss(texts) => AttrValue::Ss(texts.clone()),
        AttributeValue::Ns(numbers) => AttrValue::Ns(numbers.clone()),
        AttributeValue::Bs(blobs) => {
            AttrValue::Bs(blobs.iter().map(|b| b.as_ref().to_vec()).collect())
        }
        _ => return None,
    })
}

pub fn item_to_sdk(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect()
}

/// Attributes of unknown type are dropped and named in the error.
pub fn item_from_sdk(item: &HashMap<String, AttributeValue>) -> Result<Item, String> {
    item.iter()
        .map(|(k, v)| {
            from_sdk(v)
                .map(|v| (k.clone(), v))
                .ok_or_else(|| format!("attribute {k:?} has an unknown type"))
        })
        .collect()
}
