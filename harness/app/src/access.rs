//! Reads on behalf of a user (seed 004: user A never sees user B's data). The
//! app's API serves a read only when the requester owns what it names — a
//! share link excepted, which anyone holding the token may open — and answers
//! a foreign id exactly as a missing one, so not even existence leaks.
//! Ownership is looked up on the store that serves the read.

use cutover_core::command::{Answer, Read, Subject};
use cutover_core::keys::Id;

use crate::error::AppError;
use crate::reads::{DynamoReads, PgReads};

/// A store's read access patterns.
pub trait ServesReads {
    fn serve(&self, read: &Read) -> impl Future<Output = Result<Answer, AppError>> + Send;
}

impl ServesReads for PgReads {
    async fn serve(&self, read: &Read) -> Result<Answer, AppError> {
        self.read(read).await
    }
}

impl ServesReads for DynamoReads {
    async fn serve(&self, read: &Read) -> Result<Answer, AppError> {
        self.read(read).await
    }
}

/// Whether `requester` may ask `read` of this store.
pub async fn allowed(
    reads: &impl ServesReads,
    requester: &Id,
    read: &Read,
) -> Result<bool, AppError> {
    Ok(match read.subject() {
        Subject::User(user) => user == requester,
        Subject::Campaign(campaign) => matches!(
            reads.serve(&Read::Campaign(campaign.clone())).await?,
            Answer::Campaign(Some(found)) if &found.user_id == requester
        ),
        Subject::Session(session) => matches!(
            reads.serve(&Read::Session(session.clone())).await?,
            Answer::Session(Some(found)) if &found.user_id == requester
        ),
        Subject::ShareLink => true,
    })
}

/// `read` as `requester` asks it: served when allowed, else the empty answer.
pub async fn read_as(
    reads: &impl ServesReads,
    requester: &Id,
    read: &Read,
) -> Result<Answer, AppError> {
    if allowed(reads, requester, read).await? {
        reads.serve(read).await
    } else {
        Ok(read.empty_answer())
    }
}
