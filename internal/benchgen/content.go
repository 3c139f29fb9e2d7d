package benchgen

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
)

// Content of large tool results, the kinds that decide what scanning a body
// costs: base64 (files, images), hex (dumps, digests) and prose
// (documents). Each is about n bytes, the same for the same n.

// Base64Text is base64 of random bytes, as a file read returns it.
func Base64Text(n int) string {
	return base64.StdEncoding.EncodeToString(randomBytes(n*3/4 + 1))[:n]
}

// HexText is lower-case hex of random bytes in lines of 64 digits.
func HexText(n int) string {
	digits := hex.EncodeToString(randomBytes(n/2 + 1))
	b := make([]byte, 0, n+64)
	for i := 0; len(b) < n; i += 64 {
		b = append(append(b, digits[i:min(i+64, len(digits))]...), '\n')
	}
	return string(b[:n])
}

// ProseText is English-like sentences of common words in paragraphs.
func ProseText(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	b := make([]byte, 0, n+200)
	for len(b) < n {
		for sentence := 3 + rng.IntN(4); sentence > 0; sentence-- {
			for words, w := 6+rng.IntN(15), 0; w < words; w++ {
				word := commonWords[rng.IntN(len(commonWords))]
				if w == 0 {
					b = append(b, word[0]-'a'+'A')
					word = word[1:]
				}
				b = append(b, word...)
				switch {
				case w == words-1:
					b = append(b, ". "...)
				case rng.IntN(8) == 0:
					b = append(b, ", "...)
				default:
					b = append(b, ' ')
				}
			}
		}
		b = append(b, "\n\n"...)
	}
	return string(b[:n])
}

func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

var commonWords = []string{"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their", "has", "would", "when", "if", "so", "no", "out", "up", "said", "what", "its", "about", "than", "into", "them", "can", "only", "other", "new", "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our", "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must", "through", "back", "years", "where", "much", "your", "way", "well", "down", "should", "because", "each", "just", "those", "people", "how", "too", "little", "state", "good", "very", "make", "world", "still", "own", "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day", "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off", "come", "since", "against", "go", "came", "right", "used", "take", "three"}
