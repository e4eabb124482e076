//! An S3-compatible bucket as the archive (`s3://BUCKET/PREFIX`), through
//! `object_store`: the endpoint, region and keys come from the standard
//! `AWS_*` variables, so AWS S3, Aliyun OSS, Tencent COS and MinIO all
//! serve. A copy is one object, uploaded whole from its staged file (one
//! PUT, or a multipart upload that only appears once completed), so a
//! reader never sees part of one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncReadExt;
use tokio_util::io::StreamReader;

use super::CopyReader;
use crate::recordings::download::Downloaded;

/// A copy up to this size is uploaded in one PUT (read whole into memory
/// first); a larger one in parts of 5 MiB, four at once.
const ONE_PUT_AT_MOST: u64 = 16 * 1024 * 1024;

pub struct Bucket {
    store: Arc<dyn ObjectStore>,
}

/// Where a bucket's downloads are staged: a folder beside the database,
/// on a disk (not a `/tmp` that may be memory).
pub fn staging_beside(database: &Path) -> PathBuf {
    let mut name = database
        .file_name()
        .map(|name| name.to_os_string())
        .unwrap_or_else(|| "udesk-calls.db".into());
    name.push("-recordings-incoming");
    database.with_file_name(name)
}

impl Bucket {
    pub fn open(bucket: &str, prefix: &str) -> Result<Bucket, String> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        // An endpoint the operator wrote as plain HTTP (MinIO on the same
        // network) is meant.
        if builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some_and(|endpoint| endpoint.starts_with("http://"))
        {
            builder = builder.with_allow_http(true);
        }
        if builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        // The job runner retries with its own backoff and keeps the job;
        // the client only smooths over a brief hiccup.
        builder = builder.with_retry(RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        });
        let store = builder
            .build()
            .map_err(|error| format!("s3://{bucket}: {error}"))?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Bucket { store })
    }

    /// Uploads the copy, replacing one of the same name: the same bytes,
    /// or a copy damaged since, which this repairs.
    pub async fn keep(&self, key: &str, downloaded: Downloaded) -> io::Result<()> {
        let location = ObjectPath::from(key);
        if downloaded.bytes <= ONE_PUT_AT_MOST {
            let bytes = tokio::fs::read(downloaded.file.path()).await?;
            self.store
                .put(&location, PutPayload::from(bytes))
                .await
                .map_err(io_error)?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(io_error)?;
        let mut parts = WriteMultipart::new(upload);
        let mut file = tokio::fs::File::open(downloaded.file.path()).await?;
        let mut buffer = vec![0u8; 1024 * 1024];
        let written: io::Result<()> = async {
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    return Ok(());
                }
                parts.wait_for_capacity(4).await.map_err(io_error)?;
                parts.write(&buffer[..read]);
            }
        }
        .await;
        match written {
            Ok(()) => parts.finish().await.map(|_| ()).map_err(io_error),
            Err(error) => {
                // The parts uploaded so far are deleted; none is visible.
                let _ = parts.abort().await;
                Err(error)
            }
        }
    }

    pub async fn read(&self, key: &str, start: u64, length: u64) -> io::Result<CopyReader> {
        let options = GetOptions::default().with_range(Some(start..start.saturating_add(length)));
        let result = self
            .store
            .get_opts(&ObjectPath::from(key), options)
            .await
            .map_err(io_error)?;
        let stream = result.into_stream().map_err(io_error);
        Ok(Box::pin(StreamReader::new(stream)))
    }

    pub async fn read_whole(&self, key: &str) -> io::Result<CopyReader> {
        let result = self
            .store
            .get(&ObjectPath::from(key))
            .await
            .map_err(io_error)?;
        let stream = result.into_stream().map_err(io_error);
        Ok(Box::pin(StreamReader::new(stream)))
    }

    pub async fn remove(&self, key: &str) -> io::Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(io_error(error)),
        }
    }
}

fn io_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => {
            io::Error::new(io::ErrorKind::NotFound, error.to_string())
        }
        error => io::Error::other(error.to_string()),
    }
}
