"""Korean words right after a number that negate or change it, and Korean hedges around it: the number is then not
the answer as it stands.

Korean writes its particles, copulas and counters onto the number (`70입니다`, `70개`, `70이며`), so the AIME grader
reads a Korean word after an answer as an ending or a unit, the way it reads `70 ways`, except for the words below,
which say something else about the number (what CHANGING_WORD in integer_answer.py does for English: `70 million`,
`70 or more`). The list is the rule: a word not in it is an ending or a counter and is dropped (docs/evaluation.md,
"AIME 2025": its Grading paragraph).
"""

# A number word makes another number (70만 is 700,000; 만 is also "only", and "only 70" is no answer either), and
# so does a fraction (70분의 1 is 1/70); 조각 (pieces) is a counter, not 조 (10^12)
NUMBER_WORD = r"(?:십|백|천|만|억|조(?!각)|분의)"
# ... or a multiple, a power or a possessive (70배: 70 times; 70제곱, 70승; 70의 제곱, 70의 배수)
MULTIPLE = r"(?:배|세제곱|제곱|승|의)"
# ... or a bound, a range or an estimate (70 이상: 70 or more; 70보다 큰: greater than 70; 70까지; 70 정도)
# An estimate written after the number (70 정도, 70쯤, 70가량: "about 70"), one of the bounds
KOREAN_ESTIMATE = r"(?:정도|쯤|가량|남짓|내외|안팎)"
BOUND = rf"(?:이상|이하|미만|초과|보다|까지|부터|에서|{KOREAN_ESTIMATE})"
# ... or a second value joined to it (70과 71, 70 또는 71); `70과 같다` ("equals 70") is 70
JOINED = r"(?:[과와](?![ \t]*같)|또는|혹은|이나|이거나|거나|및|아니면)"
# ... or an operation on it (70 더하기 1, 70을 더하면, 70으로 나눈 나머지, 70에 1을 더하면)
OPERATION = r"(?:더하기|빼기|곱하기|나누기|[을를][ \t]*(?:더|뺀|빼|곱|나누|나눈)|(?:으로|로)[ \t]*나[누눈]|에[ \t]*[0-9])"
# ... or a negation (70이 아닙니다, 70은 아니다, 70도 아님): the number is what the answer is not
NEGATION = r"(?:(?:(?:이|가|은|는|도|이라고|라고|이란|란)[ \t]*)?(?:아니|아닌|아닙|아님|아닐|아냐|않))"
# Each starts with a letter, never a space: the patterns that use it put their own spaces before it, and a space
# inside as well made them quadratic on a run of spaces (`72` and 100,000 spaces took minutes)
KOREAN_CHANGING = rf"(?:{NUMBER_WORD}|{MULTIPLE}|{BOUND}|{JOINED}|{OPERATION}|{NEGATION})"

# "정답은 70이 아니라 71입니다" ("not 70 but 71"): the answer is what follows the negation, as "The answer is not 70
# but 71" is 71
NOT_BUT = r"[ \t]*(?:이|가|은|는|도)?[ \t]*아니(?:라|고)[ \t,]*"
# A Korean copula or ending that closes a clause after a second number, as punctuation does: "정답은 70, 71입니다" and
# "정답은 70이고 71입니다" state two numbers (after 은 or 는, "70, 71은 오답" goes on about 71 and states 70)
CLOSING_ENDING = r"(?:입니다|이다|이에요|예요|이야|임|이며|이고)(?![가-힣])"

# A retraction of the answer just stated, as RETRACTION in unboxed_answer.py is in English: "잠깐, 틀렸다" ("wait,
# that is wrong"), "이건 틀렸습니다", "계산이 틀렸다", "잘못 계산했다" ("I miscalculated"), "실수가 있었다" ("there was a
# mistake"). A verdict on another number ("43은 틀렸다": 43 is wrong) is checking, not a retraction: 틀렸 counts only
# after one of these subjects or 잠깐.
KOREAN_RETRACTION = (r"(?<![가-힣])(?:잠깐[ \t]*[,.!]?|이건|이것은|이것이|이는|그건|그것은|답이|계산이|풀이가)[ \t]*틀렸"
                     r"|잘못[ \t]*(?:계산했|구했|풀었|되었|됐|했)|실수(?:가|를)[ \t]*(?:있었|했)")

# ... but not one its clause negates or asks after it: 이건 틀렸을 리가 없다 ("it cannot be wrong"), 틀렸다고 보지 않는다
# ("I don't see it as wrong"), 계산이 틀렸는지 보자 ("let's see whether it is wrong"); the 않 of a later sentence
# written without a full stop (잠깐, 틀렸다 확인하지 않은 경우가 있다) does not: a 다 before a space ends the clause
KOREAN_NOT_RETRACTED = r"(?:는지|는가|나요?|을까|을지|(?:(?!다[ \t])[^.!?\n,;:]){0,30}?(?:리가[ \t]*없|않))"
# A mistake (실수가 있었다, 잘못 계산했다) retracts whatever ending closes it (했다, 했군요, 했었다, 했구나, 했네, 있었네요)
# except one that goes on to a contrast: 실수가 있었지만 고쳤다 ("there was a mistake, but I fixed it"), 잘못
# 계산했는데 ("I miscalculated, though") keep the answer, as a but-clause after "I made a mistake" does in English
KOREAN_MISTAKE_KEPT = r"(?:었)?(?:지만|는데|으나|더라도|어도)"
# ... and so does a mistake said to be fixed in its sentence (실수가 있었고 고쳤다, 바로잡았다, 수정했다, 정정했다)
KOREAN_MISTAKE_FIXED = r"(?:고쳤|고침|바로잡았|수정했|수정함|정정했|정정함)"

# A hedge in the clause that states the answer: the number is a guess, not the answer, as "The answer is maybe 43" is
# in English (QUALIFIER in unboxed_answer.py, UNSURE in integer_answer.py). Korean puts most hedges after the number,
# where its verb is: 43일 수도 있다 / 43일수도 / 43이 될 수도 ("might be 43"), 43일지도 모른다, 43인 것 같다 / 43인 거
# 같아요 / 43이 맞는 것 같다 ("seems 43"), 43인 듯하다, 43으로 추정된다 / 43으로 보인다 ("estimated / appears to be
# 43"), 43일까 ("43?"); not "할 수 있다" ("can": 확인할 수 있다 is no doubt) nor 했듯이 ("as shown");
# 43이라고 생각한다 / 43이라고 본다 ("I think 43"); and some before it: 아마(도) 43 ("maybe"), 어쩌면, 혹시, 추정 43,
# and the bounds and estimates English refuses there too (약 43 "about", 대략, 대충 / 어림잡아 "roughly", 거의,
# 적어도 "at least", 최소(한), 최대(한), 많아야 "at most"); a doubt or no check anywhere (불확실, 확실하지 않,
# 모르겠, 미확인, 미검증, 검증되지 않, 확인되지 않, 추측, 짐작). A whole word only where a longer word starts with it
# (아마추어 is "amateur", 약수 a divisor, 최소값 a minimum). Confident phrasing (정답은 43이다, 따라서 43, 정답: 43,
# 43임을 보인다 "we show it is 43") holds none of these. HEDGE_WORD (integer_answer.py) is the English list, meaning
# for meaning. Its three kinds are kept apart for the RL reward (stated_answer.py), which reads a whole sentence and
# takes only a hedge on the value: what follows the number (KOREAN_HEDGE_AFTER: 43일 수도 있다, 43인 것 같다, 추정),
# a sentence adverb (KOREAN_HEDGE_ADVERB: 아마 43, 아마 비용은 43) and a bound or estimate right before the number
# (KOREAN_BOUND: 약 43, 최소 43; "최소 비용은 43" states 43).
KOREAN_HEDGE_AFTER = (r"(?:[일될][ \t]*수[ \t]*(?:도|있)|일지도|(?:것|거)[ \t]*같|[인일][ \t]*듯(?!이)|일까(?:요)?(?![가-힣])"
                      r"|(?:으로|로)[ \t]*(?:보이|보인|보입|보여)|추정|추측|짐작|어림|불확실|확실하지[ \t]*않|모르겠"
                      r"|미확인|미검증|(?:검증|확인)[ \t]*(?:되지|하지|안)|(?:이?라고|다고)[ \t]*(?:생각|봅니|본다|봐요))")
KOREAN_HEDGE_ADVERB = r"(?<![가-힣])(?:아마도?|어쩌면|혹시)(?![가-힣])"
KOREAN_BOUND = r"(?<![가-힣])(?:약|대략|대충|거의|적어도|최소한?|최대한?|많아야)(?![가-힣])"
KOREAN_HEDGE = rf"(?:{KOREAN_HEDGE_AFTER}|{KOREAN_HEDGE_ADVERB}|{KOREAN_BOUND})"
