// Package layout is the storage layout the DynamoDB and bbolt adapters share,
// so "same keys, same semantics" is one piece of code rather than a promise:
// sort keys, the history cursor, the encoding of a commit's events, and the
// assembly of a history page from commits read in key order.
package layout

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// SnapshotSK is the sort key of an aggregate's snapshot. It sorts after
// every zero-padded version ('s' > '9'), so a key range over versions never
// reaches it.
const SnapshotSK = "snapshot"

// SKLen is the length of every commit sort key: wide enough for any
// non-negative int64 (19 digits), fixed so keys sort as versions do.
const SKLen = 20

const skDigits = SKLen

// MaxSK is the largest commit sort key, the upper bound of version ranges.
var MaxSK = strings.Repeat("9", skDigits)

// SK is the sort key of the commit whose first event has version v.
func SK(v int64) string { return fmt.Sprintf("%0*d", skDigits, v) }

// ParseSK returns the version a commit sort key encodes.
func ParseSK(sk string) (int64, error) {
	if len(sk) != skDigits {
		return 0, fmt.Errorf("sort key %q: want %d digits", sk, skDigits)
	}
	v, err := strconv.ParseInt(sk, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("sort key %q: not a version", sk)
	}
	return v, nil
}

// Cursor is where a history page resumes: at the commit keyed SK, skipping
// its events up to and including version After. Keeping the commit key
// rather than only the last version lets a page end inside a multi-event
// commit (pages hold exactly limit events) and the next page start with a
// single range read at that commit.
type Cursor struct {
	SK    string
	After int64
}

// Start is the cursor of a first page.
var Start = Cursor{SK: SK(0), After: 0}

// Encode returns the opaque form handed to callers.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.SK + ":" + strconv.FormatInt(c.After, 10)))
}

// DecodeCursor parses an opaque cursor; "" is the first page.
func DecodeCursor(s string) (Cursor, error) {
	if s == "" {
		return Start, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, invalidCursor(err)
	}
	sk, after, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Cursor{}, invalidCursor(errors.New("no separator"))
	}
	if _, err := ParseSK(sk); err != nil {
		return Cursor{}, invalidCursor(err)
	}
	v, err := strconv.ParseInt(after, 10, 64)
	if err != nil || v < 0 {
		return Cursor{}, invalidCursor(errors.New("bad version"))
	}
	return Cursor{SK: sk, After: v}, nil
}

func invalidCursor(err error) error {
	return errors.Join(eventstore.ErrInvalid, fmt.Errorf("history cursor: %w", err))
}

// DefaultPageSize is used when History is called with a limit below 1.
const DefaultPageSize = 100

// PageSize normalizes a History limit.
func PageSize(limit int) int {
	if limit < 1 {
		return DefaultPageSize
	}
	return limit
}

// Stored is one commit as read back from storage, with its sort key.
type Stored struct {
	SK     string
	Events []event.Event
}

// BuildPage assembles a page of at most limit events starting at cur from
// next, which yields the aggregate's commits in key order from cur.SK on
// (ok false when there are no more). It reads at most one commit beyond the
// page, to tell whether a next page exists, so Next is empty exactly on the
// last page and no caller ever fetches an empty page.
func BuildPage(cur Cursor, limit int, next func() (Stored, bool, error)) (eventstore.Page, error) {
	var page eventstore.Page
	last := cur.After
	for {
		c, ok, err := next()
		if err != nil {
			return eventstore.Page{}, err
		}
		if !ok {
			return page, nil
		}
		for _, e := range c.Events {
			if e.Version <= last {
				continue // already delivered (page ended inside this commit)
			}
			if len(page.Events) == limit {
				// Full, and there is more: resume at this commit, past the
				// last event delivered. At a commit boundary that is the
				// next commit's key, inside a commit the current one's.
				page.Next = Cursor{SK: c.SK, After: last}.Encode()
				return page, nil
			}
			page.Events = append(page.Events, e)
			last = e.Version
		}
	}
}

// EncodeEvents is the stored form of a commit's events: one JSON array.
// A single string attribute keeps each payload byte-for-byte (DynamoDB maps
// would reorder and retype it) and decodes the same from a table item, a
// DynamoDB Streams image, or a Lambda stream event.
func EncodeEvents(events []event.Event) (string, error) {
	b, err := json.Marshal(events)
	if err != nil {
		return "", fmt.Errorf("encode events: %w", err)
	}
	return string(b), nil
}

// DecodeCommit rebuilds a commit from its stored fields and checks it is
// what Append writes: events of aggregateID, contiguous from the key's
// version. A commit that fails this check is corrupt, not merely unusual.
func DecodeCommit(aggregateID, aggregateType, sk, events string) (eventstore.Commit, error) {
	first, err := ParseSK(sk)
	if err != nil {
		return eventstore.Commit{}, fmt.Errorf("commit %s: %w", aggregateID, err)
	}
	var evs []event.Event
	if err := json.Unmarshal([]byte(events), &evs); err != nil {
		return eventstore.Commit{}, fmt.Errorf("commit %s/%s: decode events: %w", aggregateID, sk, err)
	}
	if len(evs) == 0 {
		return eventstore.Commit{}, fmt.Errorf("commit %s/%s: no events", aggregateID, sk)
	}
	for i, e := range evs {
		if e.AggregateID != aggregateID || e.Version != first+int64(i) {
			return eventstore.Commit{}, fmt.Errorf("commit %s/%s: event %d is %s v%d", aggregateID, sk, i, e.AggregateID, e.Version)
		}
	}
	return eventstore.Commit{AggregateID: aggregateID, AggregateType: aggregateType, Events: evs}, nil
}
