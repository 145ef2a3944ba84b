package config

import (
	"slices"
	"sort"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/relay/confload"
)

// Reconcile configures the completeness sweeps (servicenow.reconcile).
type Reconcile struct {
	// Interval between sweeps of a table; 0 turns them off. Default 24h.
	Interval Duration `yaml:"interval"`
	// VerifyFields also refetches every row and compares field hashes:
	// the only way to see updates made with autoSysFields(false), at the
	// price of reading the whole table. Default false.
	VerifyFields bool `yaml:"verify_fields"`
}

// TableReconcile overrides Reconcile for one table
// (servicenow.tables.<table>.reconcile); unset keys inherit.
type TableReconcile struct {
	Interval     *Duration `yaml:"interval"`
	VerifyFields *bool     `yaml:"verify_fields"`
}

// minReconcileInterval bounds how often a table may be swept.
const minReconcileInterval = time.Minute

// ReconcileOf returns the sweep settings of table, whose incremental
// field is field: only tables incremental on sys_updated_on are swept, so
// the others get interval 0.
func (sn *ServiceNow) ReconcileOf(table, field string) (interval time.Duration, verify bool) {
	interval, verify = sn.Reconcile.Interval.D(), sn.Reconcile.VerifyFields
	if tr := sn.Tables[table].Reconcile; tr != nil {
		if tr.Interval != nil {
			interval = tr.Interval.D()
		}
		if tr.VerifyFields != nil {
			verify = *tr.VerifyFields
		}
	}
	if field != servicenow.FieldUpdatedOn {
		interval = 0
	}
	return interval, verify
}

// tableField is the incremental field table is polled on.
func (sn *ServiceNow) tableField(table string) string {
	if f := sn.Tables[table].Field; f != "" {
		return f
	}
	if i := slices.IndexFunc(servicenow.DefaultTables(), func(t servicenow.Table) bool { return t.Name == table }); i >= 0 {
		return servicenow.DefaultTables()[i].Field
	}
	return servicenow.FieldUpdatedOn
}

func (sn *ServiceNow) checkReconcile(p *confload.Problems) {
	checkInterval(p, "servicenow.reconcile.interval", sn.Reconcile.Interval)
	names := make([]string, 0, len(sn.Tables))
	for name := range sn.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tr := sn.Tables[name].Reconcile
		if tr == nil || tr.Interval == nil {
			continue
		}
		key := "servicenow.tables." + name + ".reconcile.interval"
		checkInterval(p, key, *tr.Interval)
		if tr.Interval.D() > 0 && sn.tableField(name) != servicenow.FieldUpdatedOn {
			p.Add(key, "only tables incremental on sys_updated_on are reconciled (%s is read by %s); set 0 or remove it", name, sn.tableField(name))
		}
	}
}

func checkInterval(p *confload.Problems, key string, d Duration) {
	if d.D() != 0 && d.D() < minReconcileInterval {
		p.Add(key, "must be 0 (off) or at least %s (got %s)", minReconcileInterval, d)
	}
}
