//! Session transcripts in S3 behind a pointer: content-addressed keys, SHA-256
//! and size recorded on the item, multipart upload for large ones, checksum
//! verified on every read.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use cutover_core::domain::TranscriptPointer;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// Transcripts at or above this size go up in parts of this size (S3's minimum
/// part is 5 MiB).
pub const MULTIPART_THRESHOLD_BYTES: usize = 8 * 1024 * 1024;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Clone)]
pub struct TranscriptStore {
    client: Client,
    bucket: String,
}

impl TranscriptStore {
    pub fn new(client: Client, bucket: String) -> TranscriptStore {
        TranscriptStore { client, bucket }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn create_bucket(&self) -> Result<(), AppError> {
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| AppError::s3(format!("creating bucket {}", self.bucket), e))?;
        Ok(())
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size_of(&self, key: &str) -> Result<Option<u64>, AppError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(AppError::s3(format!("HeadObject {key}"), error)),
        }
    }

    /// Uploads `text` to `key`, in parts when it is large.
    pub async fn put(&self, key: &str, text: &str) -> Result<(), AppError> {
        if text.len() < MULTIPART_THRESHOLD_BYTES {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("text/plain; charset=utf-8")
                .body(ByteStream::from(text.as_bytes().to_vec()))
                .send()
                .await
                .map_err(|e| AppError::s3(format!("PutObject {key}"), e))?;
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/plain; charset=utf-8")
            .send()
            .await
            .map_err(|e| AppError::s3(format!("CreateMultipartUpload {key}"), e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        match self.upload_parts(key, &upload_id, text.as_bytes()).await {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(error)
            }
        }
    }

    async fn upload_parts(&self, key: &str, upload_id: &str, bytes: &[u8]) -> Result<(), AppError> {
        let mut parts = Vec::new();
        for (index, chunk) in bytes.chunks(MULTIPART_THRESHOLD_BYTES).enumerate() {
            let number = index as i32 + 1;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AppError::s3(format!("UploadPart {number} of {key}"), e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AppError::s3(format!("CompleteMultipartUpload {key}"), e))?;
        Ok(())
    }

    /// The object's body, or `None` when it does not exist.
    async fn open(&self, key: &str) -> Result<Option<ByteStream>, AppError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => Ok(Some(object.body)),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(error) => Err(AppError::s3(format!("GetObject {key}"), error)),
        }
    }

    /// The raw object, or `None` when it does not exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, AppError> {
        let Some(body) = self.open(key).await? else {
            return Ok(None);
        };
        let bytes = body
            .collect()
            .await
            .map_err(|e| AppError::s3(format!("reading {key}"), e))?
            .into_bytes();
        Ok(Some(bytes.to_vec()))
    }

    /// The object's size and SHA-256, hashed as it streams in (never held
    /// whole), or `None` when it does not exist.
    pub async fn digest(&self, key: &str) -> Result<Option<(u64, String)>, AppError> {
        let Some(mut body) = self.open(key).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        let mut bytes: u64 = 0;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| AppError::s3(format!("reading {key}"), e))?
        {
            bytes += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(Some((bytes, hex::encode(hasher.finalize()))))
    }

    /// Fetches the transcript a pointer names and checks its size and SHA-256.
    pub async fn get_verified(
        &self,
        session: &str,
        pointer: &TranscriptPointer,
    ) -> Result<Option<String>, AppError> {
        let Some(bytes) = self.get_bytes(&pointer.storage_key).await? else {
            return Ok(None);
        };
        let sha256 = sha256_hex(&bytes);
        if bytes.len() as u64 != pointer.bytes || sha256 != pointer.sha256 {
            return Err(AppError::TranscriptCorrupt {
                session: session.to_owned(),
                expected_bytes: pointer.bytes,
                expected_sha256: pointer.sha256.clone(),
                actual_bytes: bytes.len() as u64,
                actual_sha256: sha256,
            });
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| AppError::S3 {
                action: format!("decoding {}", pointer.storage_key),
                detail: e.to_string(),
                retryable: false,
                source: Some(Box::new(e)),
            })
    }

    /// Deletes one object (no error when it is already gone).
    pub async fn delete(&self, key: &str) -> Result<(), AppError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AppError::s3(format!("DeleteObject {key}"), e))?;
        Ok(())
    }

    /// Keys under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, AppError> {
        let mut keys = Vec::new();
        self.for_each_key(prefix, |key| {
            keys.push(key);
            Ok(())
        })
        .await?;
        Ok(keys)
    }

    /// Hands every key under `prefix` to `each`, a listing page at a time,
    /// holding no more than one page; returns how many keys there were.
    pub async fn for_each_key(
        &self,
        prefix: &str,
        mut each: impl FnMut(String) -> Result<(), AppError>,
    ) -> Result<u64, AppError> {
        self.for_each_object(prefix, |object| match object.key() {
            Some(key) => each(key.to_owned()),
            None => Ok(()),
        })
        .await
    }

    /// Every object under `prefix` with its size and ETag, by key: what a
    /// caller compares to prove nothing under it changed in between.
    pub async fn inventory(
        &self,
        prefix: &str,
    ) -> Result<std::collections::BTreeMap<String, (i64, String)>, AppError> {
        let mut objects = std::collections::BTreeMap::new();
        self.for_each_object(prefix, |object| {
            if let Some(key) = object.key() {
                let etag = object.e_tag().unwrap_or_default().to_owned();
                objects.insert(key.to_owned(), (object.size().unwrap_or(-1), etag));
            }
            Ok(())
        })
        .await?;
        Ok(objects)
    }

    /// Hands every object of the listing under `prefix` to `each`, a page
    /// at a time; returns how many there were.
    async fn for_each_object(
        &self,
        prefix: &str,
        mut each: impl FnMut(&aws_sdk_s3::types::Object) -> Result<(), AppError>,
    ) -> Result<u64, AppError> {
        let mut count = 0u64;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AppError::s3(format!("listing {prefix}"), e))?;
            for object in page.contents() {
                each(object)?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Deletes every object under `prefix` that `belongs` says is one to
    /// sweep, except `keep`; returns how many. A key `belongs` refuses is
    /// never deleted, whatever the prefix lists.
    pub async fn delete_listed_except(
        &self,
        prefix: &str,
        belongs: impl Fn(&str) -> bool,
        keep: Option<&str>,
    ) -> Result<usize, AppError> {
        let doomed: Vec<ObjectIdentifier> = self
            .list(prefix)
            .await?
            .into_iter()
            .filter(|key| Some(key.as_str()) != keep && belongs(key))
            .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
            .collect();
        let count = doomed.len();
        for batch in doomed.chunks(1000) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| AppError::s3("building DeleteObjects", e))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| AppError::s3(format!("DeleteObjects under {prefix}"), e))?;
        }
        Ok(count)
    }
}
