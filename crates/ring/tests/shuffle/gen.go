// Command gen writes vectors.json: shuffle-sharding placements computed with Go's own
// math/rand, crypto/md5 and cespare/xxhash, for random hashrings, tenants and series.
// crates/ring/tests/shuffle.rs checks rwgate's placement against every one.
//
// It is a reference written from the algorithm in ../../../../../shared/facts
// (thanos-grpc.md, "Shuffle sharding"), not Thanos' code. Run it with Debian's
// golang-go and golang-github-cespare-xxhash-dev:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go run gen.go > vectors.json
package main

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"sort"
	"strconv"

	"github.com/cespare/xxhash"
)

type endpoint struct {
	Address string `json:"address"`
	AZ      string `json:"az"`
}

type section struct {
	hash     uint64
	endpoint int
}

// ring is a ketama ring: sections sorted by hash, rf replica endpoints per section.
type ring struct {
	endpoints []endpoint
	hashes    []uint64
	replicas  [][]int
}

func sectionsOf(eps []endpoint, idx []int) []section {
	var out []section
	for _, i := range idx {
		for s := 1; s <= 1000; s++ {
			out = append(out, section{xxhash.Sum64String(eps[i].Address + ":" + strconv.Itoa(s)), i})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].hash < out[b].hash })
	return out
}

// feasible: rf replicas spread evenly over the zones can be placed (else the walk
// below never ends, as a router's would not). A replica may only go to a zone holding
// the fewest, so simulate zone counts: every allowed zone is a least-occupied one.
func feasible(eps []endpoint, rf int) bool {
	sizes := map[string]int{}
	for _, e := range eps {
		sizes[e.AZ]++
	}
	if len(eps) < rf {
		return false
	}
	count := map[string]int{}
	for placed := 0; placed < rf; placed++ {
		least := math.MaxInt
		for z := range sizes {
			least = minInt(least, count[z])
		}
		ok := false
		for z, n := range sizes {
			if count[z] == least && count[z] < n {
				count[z]++
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func newRing(eps []endpoint, rf int) ring {
	idx := make([]int, len(eps))
	for i := range idx {
		idx[i] = i
	}
	secs := sectionsOf(eps, idx)
	zones := map[string]bool{}
	for _, e := range eps {
		zones[e.AZ] = true
	}
	r := ring{endpoints: eps}
	for i := range secs {
		r.hashes = append(r.hashes, secs[i].hash)
		chosen := map[int]bool{}
		spread := map[string]int{}
		for z := range zones {
			spread[z] = 0
		}
		var reps []int
		for j := i; len(reps) < rf; j = (j + 1) % len(secs) {
			e := secs[j].endpoint
			if chosen[e] {
				continue
			}
			if len(spread) > 1 {
				least := math.MaxInt
				for _, v := range spread {
					least = minInt(least, v)
				}
				if have := spread[eps[e].AZ]; have > 0 && have > least {
					continue
				}
			}
			chosen[e] = true
			spread[eps[e].AZ]++
			reps = append(reps, e)
		}
		r.replicas = append(r.replicas, reps)
	}
	return r
}

func (r ring) get(hash uint64, n int) string {
	i := sort.Search(len(r.hashes), func(i int) bool { return r.hashes[i] >= hash })
	if i == len(r.hashes) {
		i = 0
	}
	return r.endpoints[r.replicas[i][n]].Address
}

func seed(tenant, zone string) int64 {
	h := md5.New()
	h.Write([]byte(tenant))
	if zone != "" {
		h.Write([]byte{0})
		h.Write([]byte(zone))
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// shard picks the tenant's endpoints; "" error when it can be built.
func shard(eps []endpoint, size int, noZones bool, tenant string) ([]endpoint, string) {
	group := func(e endpoint) string {
		if noZones {
			return ""
		}
		return e.AZ
	}
	byZone := map[string][]int{}
	for i, e := range eps {
		byZone[group(e)] = append(byZone[group(e)], i)
	}
	take := size
	if !noZones {
		take = int(math.Ceil(float64(size) / float64(len(byZone))))
	}
	var out []endpoint
	for zone, idx := range byZone {
		if take > len(idx) {
			return nil, fmt.Sprintf("zone %q too small", zone)
		}
		secs := sectionsOf(eps, idx)
		r := rand.New(rand.NewSource(seed(tenant, zone)))
		picked := map[int]bool{}
		for k := 0; k < take; k++ {
			pos := r.Uint64()
			start := sort.Search(len(secs), func(i int) bool { return secs[i].hash >= pos })
			if start == len(secs) {
				start = 0
			}
			for j := 0; j < len(secs); j++ {
				s := secs[(start+j)%len(secs)]
				if picked[s.endpoint] {
					continue
				}
				picked[s.endpoint] = true
				out = append(out, eps[s.endpoint])
				break
			}
		}
	}
	return out, ""
}

type series struct {
	Hash     uint64   `json:"hash"`
	Replicas []string `json:"replicas"`
}

type vector struct {
	Endpoints             []endpoint `json:"endpoints"`
	ShardSize             int        `json:"shard_size"`
	ZoneAwarenessDisabled bool       `json:"zone_awareness_disabled"`
	RF                    int        `json:"rf"`
	Tenant                string     `json:"tenant"`
	Seeds                 []int64    `json:"seeds"`
	Shard                 []string   `json:"shard"`
	Error                 string     `json:"error,omitempty"`
	Series                []series   `json:"series"`
}

func main() {
	g := rand.New(rand.NewSource(20261124))
	var out []vector
	for len(out) < 200 {
		n := 3 + g.Intn(10)
		zones := 1 + g.Intn(3)
		var eps []endpoint
		for i := 0; i < n; i++ {
			az := ""
			if zones > 1 {
				az = fmt.Sprintf("zone-%c", 'a'+g.Intn(zones))
			}
			eps = append(eps, endpoint{fmt.Sprintf("ingestor-%d.receive.svc:10901", g.Intn(1000)*100+i), az})
		}
		v := vector{
			Endpoints:             eps,
			ShardSize:             1 + g.Intn(n),
			ZoneAwarenessDisabled: g.Intn(4) == 0,
			RF:                    1 + g.Intn(3),
			Tenant:                fmt.Sprintf("tenant-%d", g.Intn(100000)),
		}
		if !feasible(eps, v.RF) {
			continue
		}
		for _, z := range []string{"", "zone-a", "zone-b"} {
			v.Seeds = append(v.Seeds, seed(v.Tenant, z))
		}
		picked, err := shard(eps, v.ShardSize, v.ZoneAwarenessDisabled, v.Tenant)
		if err == "" && !feasible(picked, v.RF) {
			err = "shard cannot hold the replicas"
		}
		v.Error = err
		if err == "" {
			for _, e := range picked {
				v.Shard = append(v.Shard, e.Address)
			}
			r := newRing(picked, v.RF)
			for k := 0; k < 10; k++ {
				s := series{Hash: g.Uint64()}
				for rep := 0; rep < v.RF; rep++ {
					s.Replicas = append(s.Replicas, r.get(s.Hash, rep))
				}
				v.Series = append(v.Series, s)
			}
		}
		out = append(out, v)
	}
	// One vector per line.
	os.Stdout.WriteString("[\n")
	for i, v := range out {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		sep := ",\n"
		if i == len(out)-1 {
			sep = "\n"
		}
		os.Stdout.WriteString(string(b) + sep)
	}
	os.Stdout.WriteString("]\n")
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
