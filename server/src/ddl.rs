//! The coordinator's side of statements that change the catalog, run on every node
//! or on none. Each node takes its DDL lock, checks the statement and builds the
//! change (opening files, or running a load's query), and reports a fingerprint of
//! what it would do; only when every node agrees does the coordinator send Commit,
//! and each node makes the change. A node that fails or disagrees before the commit
//! leaves every catalog as it was.

use std::sync::Arc;

use percore_engine::catalog::bound::BoundRelation;
use percore_engine::catalog::profile::TableProfile;
use percore_engine::catalog::TablePartitioning;
use percore_engine::error::{ErrorCode, QueryError, QueryResult};
use percore_engine::exec::statement_cancel::StatementCancel;
use percore_engine::plan::DistributedPlan;
use percore_engine::session::lines_batch;
use percore_engine::settings::SessionSettings;
use percore_engine::sql::SessionStatement;

use crate::control::{fingerprint, read_message, write_message, Message};
use crate::coordinator::{await_prepared, cancel_all, dispatch, lost, Outcome, Peer};
use crate::node::Node;

/// What a peer whose change differs from the coordinator's is told.
const SEES_DIFFERENTLY: &str = "would make a different change (does every node see the same \
     files at that path, and the same catalog?)";

impl Node {
    /// Runs CREATE EXTERNAL TABLE or DROP TABLE on every node.
    pub(crate) fn run_ddl(
        self: &Arc<Self>,
        sql: &str,
        statement: &SessionStatement,
    ) -> QueryResult<Outcome> {
        self.membership.check_all()?;
        let _ddl = self.cluster.lock_ddl()?;
        let change = self.cluster.prepare_change(statement)?;
        let ours = fingerprint(&change.identity);
        let me = self.config.node_id;
        let ddl = Message::Ddl {
            sql: sql.to_string(),
            cluster: self.config.cluster_signature(),
        };
        let mut peers = Vec::new();
        for (node, &address) in self.config.peers.iter().enumerate() {
            if node == me {
                continue;
            }
            let connection = dispatch(
                node,
                address,
                me,
                self.config.cluster_secret.as_ref(),
                &ddl,
                &[],
            )
            .inspect_err(|error| cancel_all(&mut peers, error))?;
            peers.push(Peer::new(node, connection));
        }
        for index in 0..peers.len() {
            let prepared =
                await_prepared(&mut peers[index], ours, SEES_DIFFERENTLY, &self.membership);
            if let Err(error) = prepared {
                cancel_all(&mut peers, &error);
                return Err(error);
            }
        }
        commit_all(&mut peers, None)?;
        let summary = self.cluster.apply_change(change)?;
        Ok(Outcome::Explain(lines_batch("result", &summary)?))
    }

    /// Runs `CREATE TABLE .. AS` on the cluster: the query runs as any other, every
    /// node keeps its partitions, and the table is registered everywhere once every
    /// node's part ended well.
    pub(crate) fn run_load(
        self: &Arc<Self>,
        sql: &str,
        relations: &[BoundRelation],
        plan: &DistributedPlan,
        settings: &SessionSettings,
        cancel: &StatementCancel,
    ) -> QueryResult<Outcome> {
        let store = plan
            .store
            .as_ref()
            .ok_or_else(|| QueryError::internal("CREATE TABLE without a target"))?;
        let _ddl = self.cluster.lock_ddl()?;
        if let Some(done) = self.cluster.check_new_table(store)? {
            return Ok(Outcome::Explain(lines_batch("result", &done)?));
        }
        let mut query = self.start_query(sql, relations, plan, settings, cancel)?;
        while let Some(batch) = query.next_batch() {
            batch?;
        }
        let (kept, peer_profiles) = query
            .take_table()
            .ok_or_else(|| QueryError::internal("a load that kept no partitions"))?;
        let mut profile = kept.profile(&store.partitioning);
        // A replicated table's rows are on every node: count them once.
        if store.partitioning != TablePartitioning::Replicated {
            for peer in &peer_profiles {
                profile.merge(peer);
            }
        }
        let staged = self
            .cluster
            .stage_load(store, &plan.schema, &kept.partitions)?;
        commit_all(query.peers_mut(), Some(&profile))?;
        let change = self.cluster.loaded_change(
            store,
            Arc::clone(&plan.schema),
            kept.partitions,
            &profile,
            staged,
        );
        let summary = self.cluster.apply_change(change)?;
        Ok(Outcome::Explain(lines_batch("result", &summary)?))
    }
}

/// Tells every peer to make its prepared change and waits for each to confirm.
///
/// Before this, any failure leaves every catalog unchanged. A peer that fails here,
/// after others committed, is reported by name: its catalog then differs, and the
/// next query's plan check will refuse to run until the table is dropped or the
/// node restarted.
fn commit_all(peers: &mut [Peer], profile: Option<&TableProfile>) -> QueryResult<()> {
    let commit = Message::Commit {
        profile: profile.cloned(),
    };
    for peer in peers.iter_mut() {
        write_message(&mut peer.connection, &commit).map_err(|e| lost(peer.node, &e))?;
    }
    let mut first = Ok(());
    for peer in peers.iter_mut() {
        let outcome = match read_message(&mut peer.connection) {
            Ok(Message::Finished { error: None, .. }) => Ok(()),
            Ok(Message::Finished {
                error: Some(error), ..
            }) => Err(QueryError::new(
                ErrorCode::Internal,
                format!(
                    "node {} could not make the change ({}); the catalogs now differ",
                    peer.node, error.message
                ),
            )),
            Ok(other) => Err(QueryError::internal(format!(
                "node {} answered Commit with {other:?}",
                peer.node
            ))),
            Err(error) => Err(lost(peer.node, &error)),
        };
        if first.is_ok() {
            first = outcome;
        }
    }
    first
}
