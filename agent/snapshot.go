package main

import (
	"os"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/forward"
	"github.com/sei-edge/servicenow-edge/agent/poll"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Snapshot gathers the live figures of every component for status, the
// admin endpoint and heartbeats. Safe for concurrent use.
func (a *Agent) Snapshot() *status.Snapshot {
	s := &status.Snapshot{}
	s.Agent = a.agentSection()
	ps := a.poller.Stats()
	s.ServiceNow = a.serviceNowSection(ps.Tables, ps.NextPoll)
	s.ServiceNow.AuthError = ps.AuthError
	a.reconcileSection(&s.ServiceNow)
	s.Buffer = bufferSection(a.buf.Stats())
	repairSection(&s.Buffer, a.buf.RepairStats(), bufferDir(a.cfg))
	resyncSection(&s.Buffer, a.buf.Repairs())
	takeoverSection(&s.Buffer, a.buf.Repairs())
	s.Buffer.PollingPaused, s.Buffer.PauseReason = ps.Paused, ps.PauseReason
	s.Relay = relaySection(secret.RedactURL(a.cfg.Relay.URL), a.fwd.Stats())
	if ps.Paused {
		for i := range s.ServiceNow.Tables {
			if s.ServiceNow.Tables[i].LastResult == status.ResultRunning {
				s.ServiceNow.Tables[i].LastResult = status.ResultPaused
			}
		}
	}
	return s
}

func (a *Agent) agentSection() status.Agent {
	return status.Agent{
		ID:           a.cfg.Agent.ID,
		Version:      version,
		Running:      true,
		PID:          os.Getpid(),
		Started:      a.started,
		ConfigFile:   a.cfg.File,
		DataDir:      a.cfg.Agent.DataDir,
		ServiceState: a.serviceState,
	}
}

func (a *Agent) serviceNowSection(tables []poll.TableStats, next time.Time) status.ServiceNow {
	cs := a.sn.Stats()
	sn := status.ServiceNow{
		URL:               secret.RedactURL(a.cfg.ServiceNow.URL),
		AuthMethod:        a.cfg.ServiceNow.Auth.Method,
		AccessTokenExpiry: cs.TokenExpiry,
		TokenExpiry:       refreshExpiry(a.cfg, a.buf.Get),
		CertExpiry:        cs.CertExpiry,
		LimiterWaits:      cs.RateLimitWaits,
		LimiterWaited:     status.Duration(cs.RateLimitWait),
		OffsetPages:       cs.OffsetFallback,
	}
	for _, t := range tables {
		ts := tableSection(t)
		ts.NextPoll = next
		tc := cs.Tables[t.Table]
		ts.HTTPErrors = tc.Errors
		ts.RateLimitWaits = tc.RateLimited
		sn.Tables = append(sn.Tables, ts)
	}
	return sn
}

func tableSection(t poll.TableStats) status.TableStatus {
	ts := status.TableStatus{
		Name:           t.Table,
		Cursor:         t.Cursor.Time,
		CursorSysID:    t.Cursor.SysID,
		CursorAdvanced: t.CursorAdvanced,
		SourceNewest:   t.SourceNewest,
		LastPollStart:  t.LastStart,
		LastPollEnd:    t.LastEnd,
		LastError:      t.LastError,
		LastSuccess:    t.LastSuccess,
		FetchedLast:    int64(t.LastRecords),
		FetchedTotal:   t.TotalRecords,
		ExcludedFields: t.Excluded,
	}
	switch {
	case t.LastStart.IsZero():
	case t.LastEnd.Before(t.LastStart):
		ts.LastResult = status.ResultRunning
	case t.LastError != "" && t.AuthFailed:
		ts.LastResult = status.ResultAuthError
	case t.LastError != "":
		ts.LastResult = status.ResultError
	default:
		ts.LastResult = status.ResultOK
	}
	return ts
}

func bufferSection(st buffer.Stats) status.Buffer {
	return status.Buffer{
		PendingBatches: st.PendingBatches,
		PendingRecords: st.PendingRecords,
		PendingBytes:   st.PendingBytes,
		MaxBytes:       st.MaxBytes,
		FreeDisk:       int64(st.FreeDisk),
		Oldest:         st.Oldest,
		LastGC:         st.LastGC,
	}
}

// repairSection adds the buffer's repairs and the damaged buffers moved
// aside beside dir.
func repairSection(b *status.Buffer, rs buffer.RepairStats, dir string) {
	b.Repairs, b.RepairsPending, b.RepairTables = rs.Total, rs.Pending, rs.Tables
	if r := rs.Last; r != nil {
		b.LastRepair = &status.Repair{Table: r.Range.Table, From: r.Range.From, To: r.Range.To,
			Whole: r.Whole, Reason: r.Reason, Time: r.Time}
	}
	b.MovedAside, _ = buffer.MovedAside(dir)
}

func relaySection(url string, fs forward.Stats) status.Relay {
	r := status.Relay{
		URL:           url,
		Connected:     fs.Connected,
		Since:         fs.Since,
		RTT:           status.Duration(fs.RTT),
		LastAck:       fs.LastAck,
		LastAckBatch:  fs.LastAckBatch,
		PublishErrors: fs.PublishErrors,
		Reconnects:    fs.Reconnects,
		LastError:     fs.LastError,
		CertExpiry:    fs.CertExpiry,
	}
	r.Confirmed = confirmedSection(fs.Confirmed, fs.ConfirmedAt)
	return r
}

// confirmedSection is what the relay confirmed per table; nil when nothing.
func confirmedSection(confirmed map[string]wire.Version, at time.Time) map[string]status.ConfirmedCursor {
	if len(confirmed) == 0 {
		return nil
	}
	out := make(map[string]status.ConfirmedCursor, len(confirmed))
	for table, v := range confirmed {
		out[table] = status.ConfirmedCursor{UpdatedOn: v.UpdatedOn, ModCount: v.ModCount, Time: at}
	}
	return out
}

// heartbeat is the status snapshot the forwarder publishes every minute.
func (a *Agent) heartbeat() wire.Heartbeat {
	s := a.Snapshot()
	s.Finalize(a.thresholds(), time.Now())
	hb, err := status.Heartbeat(s)
	if err != nil {
		a.log.Warn().Err(err).Msg("build heartbeat")
	}
	return hb
}

func (a *Agent) thresholds() status.Thresholds {
	return thresholds(a.cfg)
}

// thresholds are the verdict's limits from status.* and the buffer's.
func thresholds(cfg *config.Config) status.Thresholds {
	th := status.DefaultThresholds()
	th.BacklogAge = time.Duration(cfg.Status.BacklogAge)
	th.RelayDegraded = time.Duration(cfg.Status.RelayDegraded)
	th.RelayFailing = time.Duration(cfg.Status.RelayFailing)
	th.MinFreeDisk = int64(cfg.Agent.MinFreeBytes)
	return th
}
