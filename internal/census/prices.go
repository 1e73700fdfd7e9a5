package census

import (
	"strconv"
	"strings"
)

// TypeInfo is what the census needs to know about one instance type.
type TypeInfo struct {
	// PriceUSD is the on-demand Linux price per hour in PriceRegion.
	PriceUSD float64
	VCPUs    int
	GPUs     int
}

// PriceRegion is the one reference region the table's prices are for.
// Other regions cost a little more or less; the estimate is a trip signal,
// not a bill, and a cap has headroom.
const PriceRegion = "us-east-1"

// Prices: on-demand, Linux, shared tenancy, US East (N. Virginia), USD per
// hour, with vCPUs and GPUs per instance.
//
// Source: Amazon EC2 On-Demand Pricing, https://aws.amazon.com/ec2/pricing/on-demand/
// (and the instance-type pages https://aws.amazon.com/ec2/instance-types/
// for vCPUs and GPUs), as published in 2026; table compiled 2026-11-29.
// GPU counts for trn and inf are accelerator chips (Trainium, Inferentia).
//
// The families are the ones attackers launch (GPU and accelerator types,
// and the largest general, compute and memory sizes). Anything else is
// priced by FallbackPricePerVCPU. Prices change: refresh the table and the
// date above. Where AWS has cut a price since launch (P4d and P5, June
// 2025), the table keeps the launch price: a higher estimate errs on the
// safe side for a trip signal.
var Prices = map[string]TypeInfo{
	// P: NVIDIA data-centre GPUs.
	"p2.xlarge":     {0.90, 4, 1},
	"p2.8xlarge":    {7.20, 32, 8},
	"p2.16xlarge":   {14.40, 64, 16},
	"p3.2xlarge":    {3.06, 8, 1},
	"p3.8xlarge":    {12.24, 32, 4},
	"p3.16xlarge":   {24.48, 64, 8},
	"p3dn.24xlarge": {31.212, 96, 8},
	"p4d.24xlarge":  {21.96, 96, 8},
	"p5.48xlarge":   {55.04, 192, 8},
	// G: NVIDIA and AMD graphics GPUs.
	"g4dn.xlarge":   {0.526, 4, 1},
	"g4dn.2xlarge":  {0.752, 8, 1},
	"g4dn.4xlarge":  {1.204, 16, 1},
	"g4dn.8xlarge":  {2.176, 32, 1},
	"g4dn.12xlarge": {3.912, 48, 4},
	"g4dn.16xlarge": {4.352, 64, 1},
	"g4dn.metal":    {7.824, 96, 8},
	"g4ad.xlarge":   {0.37853, 4, 1},
	"g5.xlarge":     {1.006, 4, 1},
	"g5.2xlarge":    {1.212, 8, 1},
	"g5.4xlarge":    {1.624, 16, 1},
	"g5.8xlarge":    {2.448, 32, 1},
	"g5.12xlarge":   {5.672, 48, 4},
	"g5.16xlarge":   {4.096, 64, 1},
	"g5.24xlarge":   {8.144, 96, 4},
	"g5.48xlarge":   {16.288, 192, 8},
	"g6.xlarge":     {0.8048, 4, 1},
	"g6.2xlarge":    {0.9776, 8, 1},
	"g6.4xlarge":    {1.3232, 16, 1},
	"g6.8xlarge":    {2.0144, 32, 1},
	"g6.12xlarge":   {4.6016, 48, 4},
	"g6.16xlarge":   {3.3968, 64, 1},
	"g6.24xlarge":   {6.6752, 96, 4},
	"g6.48xlarge":   {13.3504, 192, 8},
	// Trainium and Inferentia accelerators.
	"trn1.2xlarge":  {1.34375, 8, 1},
	"trn1.32xlarge": {21.50, 128, 16},
	"inf1.xlarge":   {0.228, 4, 1},
	"inf1.2xlarge":  {0.362, 8, 1},
	"inf1.6xlarge":  {1.18, 24, 4},
	"inf1.24xlarge": {4.721, 96, 16},
	"inf2.xlarge":   {0.7582, 4, 1},
	"inf2.8xlarge":  {1.9679, 32, 1},
	"inf2.24xlarge": {6.4906, 96, 6},
	"inf2.48xlarge": {12.9813, 192, 12},
	// DL: Habana Gaudi accelerators.
	"dl1.24xlarge": {13.10904, 96, 8},
	// The large C, M, R and X sizes: many vCPUs for mining on CPUs.
	"c5.18xlarge":    {3.06, 72, 0},
	"c5.24xlarge":    {4.08, 96, 0},
	"c5.metal":       {4.08, 96, 0},
	"c6i.32xlarge":   {5.44, 128, 0},
	"c6a.48xlarge":   {7.344, 192, 0},
	"c7i.48xlarge":   {8.568, 192, 0},
	"m5.24xlarge":    {4.608, 96, 0},
	"m6i.32xlarge":   {6.144, 128, 0},
	"m7i.48xlarge":   {9.6768, 192, 0},
	"r5.24xlarge":    {6.048, 96, 0},
	"r6i.32xlarge":   {8.064, 128, 0},
	"x1.32xlarge":    {13.338, 128, 0},
	"x1e.32xlarge":   {26.688, 128, 0},
	"x2idn.32xlarge": {13.338, 128, 0},
}

// Fallback prices per vCPU-hour for a type the table lacks, chosen high so
// that an unknown type is never estimated cheap: for GPU and accelerator
// families the table's highest per-vCPU price rounded up (p3.2xlarge:
// 3.06 / 8 = 0.3825), for everything else about the large c and m sizes'
// (m5.24xlarge: 4.608 / 96 = 0.048), rounded up.
const (
	FallbackPricePerVCPU    = 0.05
	FallbackGPUPricePerVCPU = 0.40
)

// gpuFamilies start the names of the GPU and accelerator families.
var gpuFamilies = []string{"p", "g", "trn", "inf", "dl", "vt", "f"}

// family is the letters before the generation digit: "p" for "p3dn".
func family(instanceType string) string {
	name, _, _ := strings.Cut(instanceType, ".")
	for i, r := range name {
		if r >= '0' && r <= '9' {
			return name[:i]
		}
	}
	return name
}

// GPUFamily says whether the type belongs to a GPU or accelerator family.
func GPUFamily(instanceType string) bool {
	f := family(instanceType)
	for _, g := range gpuFamilies {
		if f == g {
			return true
		}
	}
	return false
}

// sizeVCPUs guesses vCPUs from the size name, as AWS sizes them on x86:
// large 2, xlarge 4, Nxlarge 4N. It is the last resort, when neither the
// table, DescribeInstanceTypes nor the instance's CPU options say.
func sizeVCPUs(instanceType string) int {
	_, size, _ := strings.Cut(instanceType, ".")
	switch size {
	case "nano", "micro", "small", "medium":
		return 2
	case "large":
		return 2
	case "xlarge":
		return 4
	case "metal":
		return 96
	}
	if n, ok := strings.CutSuffix(size, "xlarge"); ok {
		if k, err := strconv.Atoi(n); err == nil && k > 0 {
			return 4 * k
		}
	}
	return 4
}

// fallbackPrice prices a type the table lacks from its vCPUs.
func fallbackPrice(instanceType string, vcpus int) float64 {
	if GPUFamily(instanceType) {
		return float64(vcpus) * FallbackGPUPricePerVCPU
	}
	return float64(vcpus) * FallbackPricePerVCPU
}
