package lokiexporter

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Attribute hints understood by the upstream exporter; they steer the
// translation and never reach Loki.
const (
	hintAttributes = "loki.attribute.labels"
	hintResources  = "loki.resource.labels"
	hintTenant     = "loki.tenant"
	hintFormat     = "loki.format"
)

const (
	labelExporter = "exporter"
	labelJob      = "job"
	labelInstance = "instance"
	labelLevel    = "level"

	attrServiceName       = "service.name"
	attrServiceNamespace  = "service.namespace"
	attrServiceInstanceID = "service.instance.id"
	attrProcessPID        = "process.pid"
)

// dropReason says why a record was dropped before sending. The limit reasons
// carry the names Loki uses in loki_discarded_samples_total{reason}, so the
// two sides of a dashboard line up.
type dropReason uint8

const (
	dropConversion dropReason = iota
	dropLineTooLong
	dropTooManyLabels
	dropLabelNameTooLong
	dropLabelValueTooLong
	dropTooOld
	dropTooNew
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropConversion:        "conversion",
	dropLineTooLong:       "line_too_long",
	dropTooManyLabels:     "max_label_names_per_series",
	dropLabelNameTooLong:  "label_name_too_long",
	dropLabelValueTooLong: "label_value_too_long",
	dropTooOld:            "greater_than_max_sample_age",
	dropTooNew:            "too_far_in_future",
}

// Bounds of the line arena (issue 17). The reservation for a batch is the
// recent average line size times the record count, but never more than
// maxArenaReserve: one 256 KiB line used to make the next 8192-record batch
// reserve 2 GiB. Lines beyond the reservation grow the arena by append, so
// big lines cost memory in proportion to their own bytes only. Arenas above
// maxPooledArena are left to the GC instead of being kept for reuse.
const (
	maxArenaReserve = 4 << 20
	maxPooledArena  = 8 << 20
)

func isHint(key string) bool {
	return len(key) > 5 && key[:5] == "loki." &&
		(key == hintAttributes || key == hintResources || key == hintTenant || key == hintFormat)
}

type lineFormat uint8

const (
	formatJSON lineFormat = iota
	formatLogfmt
	formatRaw
)

var formatNames = [...]string{formatJSON: "json", formatLogfmt: "logfmt", formatRaw: "raw"}

func parseFormat(s string) (lineFormat, error) {
	for f, name := range formatNames {
		if s == name {
			return lineFormat(f), nil
		}
	}
	// Upstream's wording, so alerts and log searches keep matching.
	return 0, fmt.Errorf("invalid format %s. Expected one of: json, logfmt, raw", s)
}

// levelNames maps severity numbers to the upstream level label values; unknown
// numbers give "" exactly like upstream's map lookup did.
var levelNames = func() (t [25]string) {
	names := []string{"UNSPECIFIED",
		"TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4",
		"INFO", "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4",
		"ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4"}
	copy(t[:], names)
	return t
}()

func levelName(sev plog.SeverityNumber) string {
	if sev >= 0 && int(sev) < len(levelNames) {
		return levelNames[sev]
	}
	return ""
}

// k8sLabel promotes one resource attribute to a label of a configured name.
type k8sLabel struct{ attr, label string }

// translator holds the configuration-derived part of the OTLP -> Loki
// translation; it is immutable and shared by all queue consumers.
type translator struct {
	exporterOn, jobOn, instanceOn, levelOn bool
	format                                 lineFormat
	k8s                                    []k8sLabel
	smLogAttrs, smResourceAttrs            bool
	stableInstance                         bool
	limits                                 LimitsConfig
	now                                    func() time.Time
	// forceSlow sends every record through the reference path; tests use it
	// to check the cached path against it.
	forceSlow bool
	// lineBytes is the recent average line size, to size a batch's arena in
	// one allocation instead of growing (and copying) it a dozen times.
	lineBytes atomic.Int64
	// arenas recycles line arenas between batches: at ~4 MiB a batch they
	// were the exporter's largest allocation and most of its GC work.
	arenas sync.Pool
}

func newTranslator(cfg *Config) (*translator, error) {
	enabled := func(name string) bool {
		on, ok := cfg.DefaultLabelsEnabled[name]
		return on || !ok
	}
	f, err := parseFormat(cfg.Format)
	if err != nil {
		return nil, err
	}
	t := &translator{
		exporterOn:      enabled(labelExporter),
		jobOn:           enabled(labelJob),
		instanceOn:      enabled(labelInstance),
		levelOn:         enabled(labelLevel),
		format:          f,
		smLogAttrs:      cfg.StructuredMetadata.LogAttributes,
		smResourceAttrs: cfg.StructuredMetadata.ResourceAttributes,
		stableInstance:  cfg.StableInstanceLabel,
		limits:          cfg.Limits,
		now:             time.Now,
	}
	if k := cfg.KubernetesLabels; k.Enabled {
		t.k8s = []k8sLabel{
			{"k8s.namespace.name", k.Namespace},
			{"k8s.pod.name", k.Pod},
			{"k8s.container.name", k.Container},
		}
	}
	return t, nil
}

// entryRef is an entry whose line and structured metadata live in the
// conversion's arenas until the push request is assembled.
type entryRef struct {
	ts               int64
	lineStart, lineN int
	smStart, smN     int
}

type stream struct {
	labels  string
	entries []entryRef
	// rejected is set when the stream breaks one of Loki's label limits
	// (reject says which): Loki would refuse all of its entries, so they are
	// dropped here, alone.
	rejected     bool
	reject       dropReason
	rejectDetail string
}

// tenantBatch is everything one HTTP request carries: upstream sends one push
// per tenant per batch.
type tenantBatch struct {
	tenant  string
	streams []*stream
	index   map[string]*stream
	records int
}

// conversion is the translation of one plog.Logs. Lines are appended to one
// arena and structured metadata to another, so a batch costs a handful of
// allocations instead of several per record.
type conversion struct {
	tr        *translator
	tenants   []*tenantBatch
	byTenant  map[string]int
	recTenant []int32 // per record in traversal order: index into tenants, -1 if dropped
	dropped   int
	errs      []error
	// byReason counts dropped records per reason (they sum to dropped);
	// examples keeps the first detail of each for the log line.
	byReason [numDropReasons]int
	examples [numDropReasons]string
	// skippedLabelNames and skippedSMNames count, per record, attribute
	// names that could not become a name Loki accepts and were left out of
	// the labels or structured metadata (the attribute stays in the line).
	skippedLabelNames, skippedSMNames int
	truncated                         int
	arena                             []byte
	sm                                []push.LabelAdapter
	now                               int64

	kvs       []keyValue
	pairs     []labelPair
	buf       []byte
	nameCache map[string]string
	smCache   map[string]string
	rs        resourceState
}

func (t *translator) convert(ld plog.Logs) *conversion {
	n := ld.LogRecordCount()
	perLine := t.lineBytes.Load()
	if perLine == 0 {
		perLine = 512
	}
	want := int(min(int64(n)*perLine*9/8+64, maxArenaReserve))
	var arena []byte
	if p, ok := t.arenas.Get().(*[]byte); ok && cap(*p) >= want {
		arena = (*p)[:0]
	} else {
		arena = make([]byte, 0, want)
	}
	c := &conversion{
		tr:        t,
		byTenant:  map[string]int{},
		recTenant: make([]int32, 0, n),
		now:       t.now().UnixNano(),
		nameCache: map[string]string{},
		smCache:   map[string]string{},
		arena:     arena,
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		c.convertResource(rls.At(i))
	}
	if kept := n - c.dropped; kept > 0 {
		t.lineBytes.Store(int64(len(c.arena)/kept) + 1)
	}
	return c
}

// release hands the arena back for the next batch. Only call it once nothing
// built from lines() is referenced any more (the push has completed).
func (c *conversion) release() {
	if cap(c.arena) > 0 && cap(c.arena) <= maxPooledArena {
		a := c.arena[:0]
		c.arena = nil
		c.tr.arenas.Put(&a)
	}
}

// lines returns the arena as a string without copying it: every entry's line
// becomes a substring of it. The arena is not written again before release.
func (c *conversion) lines() string {
	if len(c.arena) == 0 {
		return ""
	}
	return unsafe.String(&c.arena[0], len(c.arena))
}

// rawLabel is a label before sanitising, keyed like upstream by the attribute
// name it came from; that name also decides which attributes leave the line.
type rawLabel struct{ raw, value string }

func mergeLabel(labels []rawLabel, raw, value string) []rawLabel {
	for i := range labels {
		if labels[i].raw == raw {
			labels[i].value = value
			return labels
		}
	}
	return append(labels, rawLabel{raw, value})
}

type streamKey struct {
	tenant   int32
	hasLevel bool
	level    string
}

// resourceState caches everything that depends only on the resource, so a
// record without its own hints costs one attribute pass and one line encoding.
type resourceState struct {
	attrs         pcommon.Map
	format        lineFormat
	formatErr     error
	hasTenantHint bool
	tenantHint    string
	labels        []rawLabel
	k8s           []labelPair
	k8sAttrs      []string
	hasLevelAttr  bool // a top-level "level" resource attribute that a level label would remove
	skippedLabels int  // hinted label names Loki cannot accept
	frag          [2]resourceFragment
	streams       map[streamKey]*stream
}

type resourceFragment struct {
	done bool
	json []byte // `"resources":{...}` or empty
	kvs  []keyValue
	sm   []push.LabelAdapter
	err  error
	// smSkipped counts resource attribute names Loki refuses as structured
	// metadata; they stay in kvs, so in the line.
	smSkipped int
}

func (c *conversion) convertResource(rl plog.ResourceLogs) {
	t := c.tr
	rs := &c.rs
	res := rl.Resource().Attributes()
	// Reset the state but keep its buffers for the next resource.
	bufs := [2][]byte{rs.frag[0].json[:0], rs.frag[1].json[:0]}
	*rs = resourceState{attrs: res, format: t.format, labels: rs.labels[:0], k8s: rs.k8s[:0], k8sAttrs: rs.k8sAttrs[:0]}
	rs.frag[0].json, rs.frag[1].json = bufs[0], bufs[1]

	if v, ok := res.Get(hintFormat); ok {
		rs.format, rs.formatErr = parseFormat(v.AsString())
	}
	if v, ok := res.Get(hintTenant); ok {
		rs.hasTenantHint, rs.tenantHint = true, v.Str()
	}
	rs.labels = t.defaultLabels(rs.labels, res)
	if v, ok := res.Get(hintResources); ok {
		rs.labels = selectLabels(rs.labels, res, v)
	}
	rs.labels, rs.skippedLabels = c.keepValidLabels(rs.labels)
	for _, k := range t.k8s {
		if v, ok := res.Get(k.attr); ok {
			rs.k8s = append(rs.k8s, labelPair{k.label, v.AsString()})
			rs.k8sAttrs = append(rs.k8sAttrs, k.attr)
		}
	}
	if _, ok := res.Get(labelLevel); ok && !containsRaw(rs.labels, labelLevel) && !slices.Contains(rs.k8sAttrs, labelLevel) {
		rs.hasLevelAttr = true
	}
	rs.streams = map[streamKey]*stream{}

	sls := rl.ScopeLogs()
	for j := 0; j < sls.Len(); j++ {
		sl := sls.At(j)
		scope := sl.Scope()
		var scopeFrag []byte
		var scopeErr error
		if rs.format == formatJSON && scope.Name() != "" {
			c.buf, scopeErr = appendScopeJSON(c.buf[:0], scope, c.kvs[:0])
			scopeFrag = slices.Clone(c.buf)
		}
		lrs := sl.LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			lr := lrs.At(k)
			if t.forceSlow || hasHints(lr.Attributes()) {
				c.convertSlow(rl.Resource(), scope, lr)
				continue
			}
			c.convertFast(scope, scopeFrag, scopeErr, lr)
		}
	}
}

func containsRaw(labels []rawLabel, raw string) bool {
	for _, l := range labels {
		if l.raw == raw {
			return true
		}
	}
	return false
}

func hasHints(attrs pcommon.Map) bool {
	for k := range attrs.All() {
		if isHint(k) {
			return true
		}
	}
	return false
}

func (t *translator) defaultLabels(dst []rawLabel, res pcommon.Map) []rawLabel {
	if t.exporterOn {
		dst = mergeLabel(dst, labelExporter, "OTLP")
	}
	if t.jobOn {
		if name, ok := res.Get(attrServiceName); ok {
			job := name.AsString()
			if ns, ok := res.Get(attrServiceNamespace); ok {
				job = ns.AsString() + "/" + job
			}
			dst = mergeLabel(dst, labelJob, job)
		}
	}
	if t.instanceOn {
		if inst, ok := res.Get(attrServiceInstanceID); ok {
			dst = mergeLabel(dst, labelInstance, t.instanceLabel(inst.AsString(), res))
		}
	}
	return dst
}

// instanceLabel is the instance label's value. Upstream uses
// service.instance.id verbatim. autotel's Python agent (like the OTel SDKs'
// pre-fork guidance) makes that id unique per process, `<base>-<pid>`, so a
// gunicorn with two workers fills one stream per worker, and every restart
// adds more. With stable_instance_label the `-<pid>` suffix is removed when
// <pid> is exactly the resource's process.pid, giving one stream per
// container; the full id and process.pid stay in the record (JSON line or
// structured metadata), since default labels never remove their attribute.
func (t *translator) instanceLabel(id string, res pcommon.Map) string {
	if !t.stableInstance {
		return id
	}
	pidVal, ok := res.Get(attrProcessPID)
	if !ok {
		return id
	}
	pid := pidVal.AsString()
	if pid == "" || len(id) <= len(pid)+1 || !strings.HasSuffix(id, pid) || id[len(id)-len(pid)-1] != '-' {
		return id
	}
	return id[:len(id)-len(pid)-1]
}

// keepValidLabels drops the labels whose attribute name cannot become a
// label name Loki accepts. They are left out before the line is built, so
// such an attribute stays in the line instead of vanishing.
func (c *conversion) keepValidLabels(labels []rawLabel) ([]rawLabel, int) {
	kept := labels[:0]
	for _, l := range labels {
		if _, ok := c.labelName(l.raw); ok {
			kept = append(kept, l)
		}
	}
	return kept, len(labels) - len(kept)
}

func (c *conversion) labelName(raw string) (string, bool) {
	return cachedName(c.nameCache, raw, normalizeLabel)
}

func (c *conversion) smName(raw string) (string, bool) {
	return cachedName(c.smCache, raw, normalizeSMName)
}

// cachedName normalizes raw once per conversion: the same attribute keys
// recur on every record. An invalid name is cached as "" so it is not
// normalized again either.
func cachedName(cache map[string]string, raw string, normalize func(string) (string, bool)) (string, bool) {
	name, ok := cache[raw]
	if !ok {
		var valid bool
		name, valid = normalize(raw)
		if !valid {
			name = ""
		}
		cache[raw] = name
	}
	return name, name != ""
}

// selectLabels adds the attributes a hint names, looked up in attrs.
func selectLabels(dst []rawLabel, attrs pcommon.Map, hint pcommon.Value) []rawLabel {
	forEachHintName(hint, func(name string) {
		name = strings.TrimSpace(name)
		if v, ok := lookupAttribute(name, attrs); ok {
			dst = mergeLabel(dst, name, v.AsString())
		}
	})
	return dst
}

func forEachHintName(hint pcommon.Value, fn func(string)) {
	switch hint.Type() {
	case pcommon.ValueTypeStr:
		for name := range strings.SplitSeq(hint.Str(), ",") {
			fn(name)
		}
	case pcommon.ValueTypeSlice:
		for _, v := range hint.Slice().AsRaw() {
			fn(fmt.Sprintf("%v", v))
		}
	default:
		fn(hint.AsString())
	}
}

// lookupAttribute finds name directly, else as a dotted path into nested maps
// (trying the longest prefix first), as upstream's getAttribute does.
func lookupAttribute(name string, attrs pcommon.Map) (pcommon.Value, bool) {
	if v, ok := attrs.Get(name); ok {
		return v, true
	}
	segments := strings.Split(name, ".")
	for i := 0; i < len(segments)-1; i++ {
		split := len(segments) - i - 1
		left := strings.Join(segments[:split], ".")
		right := strings.Join(segments[split:], ".")
		if v, ok := lookupAttribute(left, attrs); ok && v.Type() == pcommon.ValueTypeMap {
			return lookupAttribute(right, v.Map())
		}
	}
	return pcommon.Value{}, false
}

func (c *conversion) drop(err error) {
	c.dropFor(dropConversion, "")
	if len(c.errs) < 10 {
		c.errs = append(c.errs, err)
	}
}

func (c *conversion) dropFor(reason dropReason, detail string) {
	c.recTenant = append(c.recTenant, -1)
	c.dropped++
	c.byReason[reason]++
	if c.examples[reason] == "" {
		c.examples[reason] = detail
	}
}

func (c *conversion) tenantIndex(tenant string) int32 {
	if i, ok := c.byTenant[tenant]; ok {
		return int32(i)
	}
	c.byTenant[tenant] = len(c.tenants)
	c.tenants = append(c.tenants, &tenantBatch{tenant: tenant, index: map[string]*stream{}})
	return int32(len(c.tenants) - 1)
}

// resourceFragment returns the resource part of the line, with or without a
// "level" resource attribute (which upstream removes whenever the record gets
// a level label).
func (c *conversion) resourceFragment(withLevelRemoved bool) *resourceFragment {
	rs := &c.rs
	variant := 0
	if withLevelRemoved && rs.hasLevelAttr {
		variant = 1
	}
	f := &rs.frag[variant]
	if f.done {
		return f
	}
	f.done = true
	f.kvs = f.kvs[:0]
	f.sm = nil
	f.smSkipped = 0
	for k, v := range rs.attrs.All() {
		if isHint(k) || containsRaw(rs.labels, k) || slices.Contains(rs.k8sAttrs, k) || variant == 1 && k == labelLevel {
			continue
		}
		f.kvs = append(f.kvs, keyValue{k, v})
	}
	if c.tr.smResourceAttrs {
		f.sm, f.kvs, f.smSkipped = c.appendSM(nil, f.kvs)
	}
	if rs.format == formatJSON {
		f.json, f.err = appendResourcesJSON(f.json[:0], sortDedup(slices.Clone(f.kvs)))
	}
	return f
}

func appendResourcesJSON(dst []byte, kvs []keyValue) ([]byte, error) {
	if len(kvs) == 0 {
		return dst, nil
	}
	dst = append(dst, `"resources":`...)
	return appendJSONObject(dst, kvs)
}

func appendScopeJSON(dst []byte, scope pcommon.InstrumentationScope, scratch []keyValue) ([]byte, error) {
	dst = append(dst, `"instrumentation_scope":{"name":`...)
	dst = appendJSONString(dst, scope.Name())
	if v := scope.Version(); v != "" {
		dst = append(dst, `,"version":`...)
		dst = appendJSONString(dst, v)
	}
	for k, v := range scope.Attributes().All() {
		scratch = append(scratch, keyValue{k, v})
	}
	var err error
	if len(scratch) > 0 {
		dst = append(dst, `,"attributes":`...)
		dst, err = appendJSONObject(dst, sortDedup(scratch))
	}
	return append(dst, '}'), err
}

func (c *conversion) convertFast(scope pcommon.InstrumentationScope, scopeFrag []byte, scopeErr error, lr plog.LogRecord) {
	rs := &c.rs
	t := c.tr
	if rs.formatErr != nil {
		c.drop(rs.formatErr)
		return
	}
	if scopeErr != nil {
		c.drop(scopeErr)
		return
	}
	attrs := lr.Attributes()

	tenant := ""
	if rs.hasTenantHint {
		if v, ok := rs.attrs.Get(rs.tenantHint); ok {
			tenant = v.Str()
		} else if v, ok := attrs.Get(rs.tenantHint); ok {
			tenant = v.Str()
		}
	}

	key := streamKey{tenant: c.tenantIndex(tenant)}
	if t.levelOn && lr.SeverityNumber() != plog.SeverityNumberUnspecified {
		key.hasLevel = true
		if v, ok := attrs.Get(labelLevel); ok {
			key.level = v.AsString()
		} else {
			key.level = levelName(lr.SeverityNumber())
		}
	}

	frag := c.resourceFragment(key.hasLevel)
	if frag.err != nil {
		c.drop(frag.err)
		return
	}

	c.kvs = c.kvs[:0]
	for k, v := range attrs.All() {
		if containsRaw(rs.labels, k) || key.hasLevel && k == labelLevel {
			continue
		}
		c.kvs = append(c.kvs, keyValue{k, v})
	}

	smStart := len(c.sm)
	c.sm = append(c.sm, frag.sm...)
	smSkipped := frag.smSkipped
	if t.smLogAttrs {
		var n int
		c.sm, c.kvs, n = c.appendSM(c.sm, c.kvs)
		smSkipped += n
	}

	lineStart := len(c.arena)
	var err error
	c.arena, err = c.appendLine(c.arena, rs.format, lr, c.kvs, frag, scope, scopeFrag)
	if err != nil {
		c.arena = c.arena[:lineStart]
		c.sm = c.sm[:smStart]
		c.drop(fmt.Errorf("failed to convert, dropping log: %w", err))
		return
	}

	st := rs.streams[key]
	if st == nil {
		labels := rs.labels
		if key.hasLevel {
			labels = mergeLabel(slices.Clone(labels), labelLevel, key.level)
		}
		st = c.streamFor(key.tenant, labels, rs.k8s)
		rs.streams[key] = st
	}
	c.addEntry(key.tenant, st, lr, lineStart, smStart, rs.skippedLabels, smSkipped)
}

// addEntry applies Loki's per-entry limits to the record just encoded at
// lineStart/smStart and appends it to its stream, or drops it alone (taking
// its line and metadata back out of the arenas).
func (c *conversion) addEntry(tenant int32, st *stream, lr plog.LogRecord, lineStart, smStart, skippedLabels, skippedSM int) {
	ts := int64(lr.Timestamp())
	if ts == 0 {
		ts = int64(lr.ObservedTimestamp())
	}
	if ts == 0 {
		ts = c.now
	}
	lim := &c.tr.limits
	reject := func(reason dropReason, detail func() string) {
		c.arena = c.arena[:lineStart]
		c.sm = c.sm[:smStart]
		d := ""
		if c.examples[reason] == "" {
			d = detail()
		}
		c.dropFor(reason, d)
	}
	if st.rejected {
		reject(st.reject, func() string { return st.rejectDetail })
		return
	}
	if n := len(c.arena) - lineStart; lim.MaxLineSize > 0 && n > lim.MaxLineSize {
		if !lim.TruncateLongLines {
			reject(dropLineTooLong, func() string {
				return fmt.Sprintf("line of %d bytes in stream %s exceeds max_line_size %d", n, st.labels, lim.MaxLineSize)
			})
			return
		}
		c.arena = c.arena[:lineStart+utf8Prefix(c.arena[lineStart:], lim.MaxLineSize)]
		c.truncated++
	}
	if lim.RejectOldSamplesMaxAge > 0 && ts < c.now-int64(lim.RejectOldSamplesMaxAge) {
		reject(dropTooOld, func() string {
			return fmt.Sprintf("timestamp %s in stream %s is older than reject_old_samples_max_age %s", time.Unix(0, ts).UTC().Format(time.RFC3339), st.labels, lim.RejectOldSamplesMaxAge)
		})
		return
	}
	if lim.CreationGracePeriod > 0 && ts > c.now+int64(lim.CreationGracePeriod) {
		reject(dropTooNew, func() string {
			return fmt.Sprintf("timestamp %s in stream %s is later than now + creation_grace_period %s", time.Unix(0, ts).UTC().Format(time.RFC3339), st.labels, lim.CreationGracePeriod)
		})
		return
	}
	c.skippedLabelNames += skippedLabels
	c.skippedSMNames += skippedSM
	st.entries = append(st.entries, entryRef{
		ts: ts, lineStart: lineStart, lineN: len(c.arena) - lineStart,
		smStart: smStart, smN: len(c.sm) - smStart,
	})
	c.tenants[tenant].records++
	c.recTenant = append(c.recTenant, tenant)
}

// streamFor sanitises and sorts the labels into the stream selector and finds
// or creates that stream in the tenant's request.
func (c *conversion) streamFor(tenant int32, labels []rawLabel, k8s []labelPair) *stream {
	type named struct{ name, raw, value string }
	all := make([]named, 0, len(labels)+len(k8s))
	for _, l := range labels {
		name, ok := c.labelName(l.raw)
		if !ok {
			continue // callers already left these out (keepValidLabels)
		}
		all = append(all, named{name, l.raw, l.value})
	}
	// Two attributes can sanitise to one name; upstream then kept a random
	// one (map order), we keep the one whose raw name sorts last.
	slices.SortFunc(all, func(a, b named) int {
		if n := strings.Compare(a.name, b.name); n != 0 {
			return n
		}
		return strings.Compare(a.raw, b.raw)
	})
	pairs := c.pairs[:0]
	for i, n := range all {
		if i+1 < len(all) && all[i+1].name == n.name {
			continue
		}
		pairs = append(pairs, labelPair{n.name, n.value})
	}
	// The Kubernetes option fills its labels unless a default label or an
	// explicit hint already produced a label of that name.
	for _, p := range k8s {
		if !slices.ContainsFunc(pairs, func(q labelPair) bool { return q.name == p.name }) {
			pairs = append(pairs, p)
		}
	}
	slices.SortFunc(pairs, func(a, b labelPair) int { return strings.Compare(a.name, b.name) })
	c.pairs = pairs

	c.buf = appendLabelSet(c.buf[:0], pairs)
	tb := c.tenants[tenant]
	if st, ok := tb.index[string(c.buf)]; ok {
		return st
	}
	st := &stream{labels: string(c.buf)}
	st.reject, st.rejectDetail, st.rejected = c.tr.checkLabels(st.labels, pairs)
	tb.index[st.labels] = st
	tb.streams = append(tb.streams, st)
	return st
}

// checkLabels applies Loki's stream-label limits (max_label_names_per_series,
// not counting Loki's own service_name; max_label_name_length;
// max_label_value_length). pairs are the final, sorted labels.
func (t *translator) checkLabels(selector string, pairs []labelPair) (dropReason, string, bool) {
	lim := &t.limits
	n := len(pairs)
	for _, p := range pairs {
		if p.name == "service_name" {
			n--
		}
	}
	if lim.MaxLabelNamesPerSeries > 0 && n > lim.MaxLabelNamesPerSeries {
		return dropTooManyLabels, fmt.Sprintf("stream %s has %d label names; max_label_names_per_series %d", selector, n, lim.MaxLabelNamesPerSeries), true
	}
	for _, p := range pairs {
		if lim.MaxLabelNameLength > 0 && len(p.name) > lim.MaxLabelNameLength {
			return dropLabelNameTooLong, fmt.Sprintf("label name %.64q... (%d bytes) exceeds max_label_name_length %d", p.name, len(p.name), lim.MaxLabelNameLength), true
		}
		if lim.MaxLabelValueLength > 0 && len(p.value) > lim.MaxLabelValueLength {
			return dropLabelValueTooLong, fmt.Sprintf("value of label %q (%d bytes) exceeds max_label_value_length %d", p.name, len(p.value), lim.MaxLabelValueLength), true
		}
	}
	return 0, "", false
}

// utf8Prefix is the length of the longest prefix of b of at most n bytes that
// does not end inside a UTF-8 sequence.
func utf8Prefix(b []byte, n int) int {
	if n >= len(b) {
		return len(b)
	}
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}

// appendSM appends the attributes as structured metadata under the names
// Loki stores them by. Attributes whose name Loki refuses are returned in
// rest (kvs is reused for it), so the caller keeps them in the line, and
// counted in skipped.
func (c *conversion) appendSM(dst []push.LabelAdapter, kvs []keyValue) (out []push.LabelAdapter, rest []keyValue, skipped int) {
	rest = kvs[:0]
	for _, kv := range kvs {
		name, ok := c.smName(kv.key)
		if !ok {
			rest = append(rest, kv)
			continue
		}
		dst = append(dst, push.LabelAdapter{Name: name, Value: kv.value.AsString()})
	}
	return dst, rest, len(rest)
}

// appendLine encodes the entry line. attrs are the record's remaining
// attributes in map order.
func (c *conversion) appendLine(dst []byte, format lineFormat, lr plog.LogRecord, attrs []keyValue, frag *resourceFragment, scope pcommon.InstrumentationScope, scopeFrag []byte) ([]byte, error) {
	switch format {
	case formatRaw:
		return append(dst, lr.Body().AsString()...), nil
	case formatLogfmt:
		return appendLogfmtLine(dst, lr, attrs, frag.kvs, scope)
	}
	return appendJSONLine(dst, lr, sortDedup(attrs), frag.json, scopeFrag)
}

// appendJSONLine writes upstream's lokiEntry as json.Marshal would: fields in
// declaration order, each omitted when empty.
func appendJSONLine(dst []byte, lr plog.LogRecord, attrs []keyValue, resFrag, scopeFrag []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, '{')
	comma := func(dst []byte) []byte {
		if len(dst) > start+1 {
			return append(dst, ',')
		}
		return dst
	}
	var err error
	if body := lr.Body(); body.Type() != pcommon.ValueTypeEmpty {
		dst = append(dst, `"body":`...)
		if dst, err = appendJSONValue(dst, body); err != nil {
			return dst, err
		}
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		dst = append(comma(dst), `"traceid":"`...)
		dst = hex.AppendEncode(dst, id[:])
		dst = append(dst, '"')
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		dst = append(comma(dst), `"spanid":"`...)
		dst = hex.AppendEncode(dst, id[:])
		dst = append(dst, '"')
	}
	if s := lr.SeverityText(); s != "" {
		dst = append(comma(dst), `"severity":`...)
		dst = appendJSONString(dst, s)
	}
	if f := uint32(lr.Flags()); f != 0 {
		dst = append(comma(dst), `"flags":`...)
		dst = strconv.AppendUint(dst, uint64(f), 10)
	}
	if len(attrs) > 0 {
		dst = append(comma(dst), `"attributes":`...)
		if dst, err = appendJSONObject(dst, attrs); err != nil {
			return dst, err
		}
	}
	if len(resFrag) > 0 {
		dst = append(comma(dst), resFrag...)
	}
	if len(scopeFrag) > 0 {
		dst = append(comma(dst), scopeFrag...)
	}
	return append(dst, '}'), nil
}

// convertSlow handles records that carry their own hints. It follows
// upstream's LogToLokiEntry step by step on copies of the record's and the
// resource's attributes; such records are rare, so clarity wins over speed.
func (c *conversion) convertSlow(resource pcommon.Resource, scope pcommon.InstrumentationScope, lr plog.LogRecord) {
	t := c.tr
	resAttrs := resource.Attributes()
	tenant := tenantFromHint(lr.Attributes(), resAttrs)

	logAttrs := pcommon.NewMap()
	lr.Attributes().CopyTo(logAttrs)
	if t.levelOn && lr.SeverityNumber() != plog.SeverityNumberUnspecified {
		addLevelHint(logAttrs)
		if _, ok := logAttrs.Get(labelLevel); !ok {
			logAttrs.PutStr(labelLevel, levelName(lr.SeverityNumber()))
		}
	}

	format := t.format
	if v, ok := resAttrs.Get(hintFormat); ok {
		f, err := parseFormat(v.AsString())
		if err != nil {
			c.drop(fmt.Errorf("failed to convert, dropping log: %w", err))
			return
		}
		format = f
	} else if v, ok := logAttrs.Get(hintFormat); ok {
		f, err := parseFormat(v.AsString())
		if err != nil {
			c.drop(fmt.Errorf("failed to convert, dropping log: %w", err))
			return
		}
		format = f
	}

	labels := t.defaultLabels(nil, resAttrs)
	if v, ok := resAttrs.Get(hintResources); ok {
		labels = selectLabels(labels, resAttrs, v)
	}
	if v, ok := logAttrs.Get(hintResources); ok {
		labels = selectLabels(labels, resAttrs, v)
	}
	if v, ok := logAttrs.Get(hintAttributes); ok {
		labels = selectLabels(labels, logAttrs, v)
	}
	labels, skippedLabels := c.keepValidLabels(labels)
	var k8s []labelPair
	var k8sAttrs []string
	for _, k := range t.k8s {
		if v, ok := resAttrs.Get(k.attr); ok {
			k8s = append(k8s, labelPair{k.label, v.AsString()})
			k8sAttrs = append(k8sAttrs, k.attr)
		}
	}

	keep := func(k string) bool { return !isHint(k) && !containsRaw(labels, k) }
	var logKVs, resKVs []keyValue
	for k, v := range logAttrs.All() {
		if keep(k) {
			logKVs = append(logKVs, keyValue{k, v})
		}
	}
	for k, v := range resAttrs.All() {
		if keep(k) && !slices.Contains(k8sAttrs, k) {
			resKVs = append(resKVs, keyValue{k, v})
		}
	}

	smStart := len(c.sm)
	smSkipped := 0
	if t.smResourceAttrs {
		var n int
		c.sm, resKVs, n = c.appendSM(c.sm, resKVs)
		smSkipped += n
	}
	if t.smLogAttrs {
		var n int
		c.sm, logKVs, n = c.appendSM(c.sm, logKVs)
		smSkipped += n
	}

	frag := &resourceFragment{kvs: resKVs}
	var scopeFrag []byte
	var err error
	if format == formatJSON {
		if frag.json, err = appendResourcesJSON(nil, sortDedup(slices.Clone(resKVs))); err == nil && scope.Name() != "" {
			scopeFrag, err = appendScopeJSON(nil, scope, nil)
		}
	}
	lineStart := len(c.arena)
	if err == nil {
		c.arena, err = c.appendLine(c.arena, format, lr, logKVs, frag, scope, scopeFrag)
	}
	if err != nil {
		c.arena = c.arena[:lineStart]
		c.sm = c.sm[:smStart]
		c.drop(fmt.Errorf("failed to convert, dropping log: %w", err))
		return
	}
	ti := c.tenantIndex(tenant)
	st := c.streamFor(ti, labels, k8s)
	c.addEntry(ti, st, lr, lineStart, smStart, skippedLabels, smSkipped)
}

// tenantFromHint: the hint names the attribute holding the tenant; resource
// attributes take precedence over record attributes, for the hint and for the
// value alike. Non-string values read as "" (pcommon's Str), as upstream.
func tenantFromHint(logAttrs, resAttrs pcommon.Map) string {
	hint, ok := resAttrs.Get(hintTenant)
	if !ok {
		if hint, ok = logAttrs.Get(hintTenant); !ok {
			return ""
		}
	}
	if v, ok := resAttrs.Get(hint.Str()); ok {
		return v.Str()
	}
	if v, ok := logAttrs.Get(hint.Str()); ok {
		return v.Str()
	}
	return ""
}

// addLevelHint appends "level" to the record's attribute-label hint; a hint
// of any type other than string or slice is left alone, as upstream does.
func addLevelHint(attrs pcommon.Map) {
	v, ok := attrs.Get(hintAttributes)
	if !ok {
		attrs.PutStr(hintAttributes, labelLevel)
		return
	}
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		v.Slice().AppendEmpty().SetStr(labelLevel)
	case pcommon.ValueTypeStr:
		attrs.PutStr(hintAttributes, v.AsString()+","+labelLevel)
	}
}

// pushRequest assembles the tenant's Loki request from the arenas. lines is
// the arena as one string, so every entry's line is a substring of a single
// allocation.
func (c *conversion) pushRequest(tb *tenantBatch, lines string) *push.PushRequest {
	n, live := 0, 0
	for _, st := range tb.streams {
		n += len(st.entries)
		if len(st.entries) > 0 {
			live++
		}
	}
	// Streams whose every record was dropped by a limit are left out.
	req := &push.PushRequest{Streams: make([]push.Stream, 0, live)}
	entries := make([]push.Entry, 0, n)
	for _, st := range tb.streams {
		if len(st.entries) == 0 {
			continue
		}
		first := len(entries)
		for _, e := range st.entries {
			pe := push.Entry{
				Timestamp: time.Unix(0, e.ts),
				Line:      lines[e.lineStart : e.lineStart+e.lineN],
			}
			if e.smN > 0 {
				pe.StructuredMetadata = c.sm[e.smStart : e.smStart+e.smN : e.smStart+e.smN]
			}
			entries = append(entries, pe)
		}
		req.Streams = append(req.Streams, push.Stream{Labels: st.labels, Entries: entries[first:len(entries):len(entries)]})
	}
	return req
}
