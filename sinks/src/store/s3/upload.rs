//! Streaming uploads. An [`S3Writer`] is an `io::Write` the encoder writes into on a
//! blocking thread. Bytes fill one part buffer; when it is full, the multipart upload is
//! created (on the first part) and the part is uploaded on the runtime while the encoder goes
//! on, with at most `concurrency` parts in flight — so memory stays near
//! `(1 + concurrency) × part size`, not one whole object. An object smaller than one part is a
//! single PutObject. Finishing completes the upload; any failure, or dropping the writer
//! unfinished, aborts it, so no upload is left dangling and no partial object is visible.
//!
//! The upload's life: `Buffering` (no upload yet) → `Multipart { upload_id, parts }` →
//! completed or aborted. The object's [`WriteGuard`] is asked before each part is sent and
//! right before the upload is completed (or the single PutObject sent).

use std::collections::VecDeque;
use std::io::{self, Write};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::ObjectSettings;
use crate::aws::sink_error;
use crate::sink::SinkError;
use crate::store::{already_exists as taken, into_io, ObjectWriter, WriteGuard};

/// S3's minimum part size (all parts but the last).
pub const MIN_PART_SIZE: usize = 5 << 20;

pub(super) struct S3Writer {
    client: Client,
    handle: Handle,
    bucket: String,
    key: String,
    settings: ObjectSettings,
    part_size: usize,
    concurrency: usize,
    buffer: Vec<u8>,
    state: UploadState,
    written: u64,
}

enum UploadState {
    /// Nothing sent yet: the object may still fit a single PutObject.
    Buffering,
    Multipart(MultipartUpload),
    /// Completed, aborted, or failed.
    Done,
}

struct MultipartUpload {
    upload_id: String,
    next_part: i32,
    in_flight: VecDeque<JoinHandle<Result<CompletedPart, SinkError>>>,
    completed: Vec<CompletedPart>,
}

impl S3Writer {
    pub(super) fn new(
        client: Client,
        handle: Handle,
        bucket: String,
        key: String,
        settings: ObjectSettings,
        part_size: usize,
        concurrency: usize,
    ) -> Self {
        S3Writer {
            client,
            handle,
            bucket,
            key,
            settings,
            part_size: part_size.max(MIN_PART_SIZE),
            concurrency: concurrency.max(1),
            buffer: Vec::new(),
            state: UploadState::Buffering,
            written: 0,
        }
    }

    fn target(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Sends the full buffer as the next part, creating the upload first if needed.
    fn send_part(&mut self) -> Result<(), SinkError> {
        WriteGuard::check(&self.settings.guard)?;
        if matches!(self.state, UploadState::Buffering) {
            let upload_id = self.handle.block_on(create_upload(
                &self.client,
                &self.bucket,
                &self.key,
                &self.settings,
            ))?;
            self.state = UploadState::Multipart(MultipartUpload {
                upload_id,
                next_part: 1,
                in_flight: VecDeque::new(),
                completed: Vec::new(),
            });
        }
        let UploadState::Multipart(upload) = &mut self.state else {
            return Err(SinkError::permanent(
                "S3.State",
                format!("{} is already finished", self.target()),
            ));
        };
        // Wait for a free slot before taking the buffer: bounds the parts held in memory.
        while upload.in_flight.len() >= self.concurrency {
            let Some(oldest) = upload.in_flight.pop_front() else {
                break;
            };
            upload.completed.push(join_part(&self.handle, oldest)?);
        }
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_size));
        let number = upload.next_part;
        upload.next_part += 1;
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload.upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(part));
        let target = format!("s3://{}/{} part {number}", self.bucket, self.key);
        upload.in_flight.push_back(self.handle.spawn(async move {
            let response = request
                .send()
                .await
                .map_err(|e| sink_error("S3", "UploadPart", &target, e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(response.e_tag().map(str::to_string))
                .set_checksum_crc32(response.checksum_crc32().map(str::to_string))
                .build())
        }));
        Ok(())
    }

    fn complete(&mut self) -> Result<(), SinkError> {
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        let UploadState::Multipart(upload) = &mut self.state else {
            return Err(SinkError::permanent(
                "S3.State",
                format!("{} has no upload to complete", self.target()),
            ));
        };
        while let Some(part) = upload.in_flight.pop_front() {
            upload.completed.push(join_part(&self.handle, part)?);
        }
        // The parts may have taken long: asked again right before the object is published.
        WriteGuard::check(&self.settings.guard)?;
        upload.completed.sort_by_key(|p| p.part_number());
        let parts = std::mem::take(&mut upload.completed);
        let request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload.upload_id)
            .set_if_none_match(self.settings.if_absent.then(|| "*".to_string()))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        self.handle
            .block_on(request.send())
            .map(|_| ())
            .map_err(|e| sink_error("S3", "CompleteMultipartUpload", &self.target(), e))
            .map_err(already_exists)
    }

    /// Aborts a multipart upload in progress: cancels its parts and sends the abort off on the
    /// runtime (this may run in `Drop`, where blocking is not allowed).
    fn abort_upload(&mut self) {
        if let UploadState::Multipart(upload) =
            std::mem::replace(&mut self.state, UploadState::Done)
        {
            for part in upload.in_flight {
                part.abort();
            }
            let (client, bucket, key) =
                (self.client.clone(), self.bucket.clone(), self.key.clone());
            let abort_upload = async move {
                if let Err(e) = abort(&client, &bucket, &key, &upload.upload_id).await {
                    tracing::warn!(error = %e, "could not abort a multipart upload; it will be cleaned up at the next start");
                }
            };
            self.handle.spawn(abort_upload);
        }
    }
}

fn join_part(
    handle: &Handle,
    part: JoinHandle<Result<CompletedPart, SinkError>>,
) -> Result<CompletedPart, SinkError> {
    handle
        .block_on(part)
        .map_err(|e| SinkError::retryable("S3.Task", format!("part upload task failed: {e}")))?
}

impl Write for S3Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if matches!(self.state, UploadState::Done) {
            return Err(io::Error::other("object already finished"));
        }
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(self.part_size);
        }
        let take = buf.len().min(self.part_size - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..take]);
        self.written += take as u64;
        if self.buffer.len() == self.part_size {
            if let Err(e) = self.send_part() {
                self.abort_upload();
                self.state = UploadState::Done;
                return Err(into_io(e));
            }
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for S3Writer {
    fn finish(mut self: Box<Self>) -> Result<u64, SinkError> {
        let result = match self.state {
            UploadState::Buffering => {
                WriteGuard::check(&self.settings.guard)?;
                let body = ByteStream::from(std::mem::take(&mut self.buffer));
                self.handle
                    .block_on(put_object(
                        &self.client,
                        &self.bucket,
                        &self.key,
                        &self.settings,
                        body,
                    ))
                    .map(|_| ())
            }
            UploadState::Multipart(_) => self.complete(),
            UploadState::Done => Err(SinkError::permanent(
                "S3.State",
                format!("{} is already finished", self.target()),
            )),
        };
        match result {
            Ok(()) => {
                self.state = UploadState::Done;
                Ok(self.written)
            }
            Err(e) => {
                self.abort_upload();
                Err(e)
            }
        }
    }

    fn abort(mut self: Box<Self>) {
        self.abort_upload();
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        self.abort_upload();
    }
}

async fn create_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    s: &ObjectSettings,
) -> Result<String, SinkError> {
    let target = format!("s3://{bucket}/{key}");
    let response = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(s.content_type)
        .set_content_encoding(s.content_encoding.map(str::to_string))
        .set_server_side_encryption(s.encryption.clone())
        .set_ssekms_key_id(s.kms_key_id.clone())
        .set_storage_class(s.storage_class.clone())
        .set_tagging(s.tagging.clone())
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(|e| sink_error("S3", "CreateMultipartUpload", &target, e))?;
    response.upload_id().map(str::to_string).ok_or_else(|| {
        SinkError::retryable(
            "S3.NoUploadId",
            format!("CreateMultipartUpload {target} returned no upload id"),
        )
    })
}

pub(super) async fn put_object(
    client: &Client,
    bucket: &str,
    key: &str,
    s: &ObjectSettings,
    body: ByteStream,
) -> Result<(), SinkError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(s.content_type)
        .set_content_encoding(s.content_encoding.map(str::to_string))
        .set_server_side_encryption(s.encryption.clone())
        .set_ssekms_key_id(s.kms_key_id.clone())
        .set_storage_class(s.storage_class.clone())
        .set_tagging(s.tagging.clone())
        .set_if_none_match(s.if_absent.then(|| "*".to_string()))
        .body(body)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sink_error("S3", "PutObject", &format!("s3://{bucket}/{key}"), e))
        .map_err(already_exists)
}

/// S3 answers a create-if-absent on a taken key with 412 PreconditionFailed.
fn already_exists(error: SinkError) -> SinkError {
    if error.code == "S3.PreconditionFailed" {
        taken(error.message)
    } else {
        error
    }
}

pub(super) async fn abort(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), SinkError> {
    client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            sink_error(
                "S3",
                "AbortMultipartUpload",
                &format!("s3://{bucket}/{key}"),
                e,
            )
        })
}
