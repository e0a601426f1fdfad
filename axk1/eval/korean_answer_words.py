"""Korean words right after a number that negate or change it: the number is then not the answer as it stands.

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
BOUND = r"(?:이상|이하|미만|초과|보다|까지|부터|에서|정도|쯤|가량|남짓|내외|안팎)"
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
