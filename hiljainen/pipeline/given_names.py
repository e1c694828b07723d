"""English given names and the words that address or introduce a person, for name redaction.

No package on this project's machines ships a given-name list, and Voikko knows English names
only by chance ("Emma", "Steve" yes; "Dave", "Amy", "Tariq" no), while the English pipeline's
word lists hold many names as words ("karen", "gary", "rachel"). So this is a small list curated
by hand for the project: given names common in Britain, Ireland, North America and Australia
from the 1940s on, with their usual short forms. It decides what a lower-case word is in an
English note ("asked tom", "sarah said"), where neither capitals nor NER help.

Names that are also everyday English words ("will", "mark", "rose", "bill") are kept apart:
they count as names only where the context says so ("hi rose", "told mark", "nurse will").
"""

from __future__ import annotations

# Given names and short forms that are not everyday English words.
EN_GIVEN_NAMES = frozenset(
    """
    aaron abbie abby abigail adam adrian agnes aidan aileen alan alana albert alex alexander
    alexandra alfie alfred alice alison allan alma amanda amelia amy andrea andrew andy angela
    angus anita ann anna anne annette annie anthony antony archie arthur ashley audrey austin
    barbara barry beatrice becky ben benjamin bernard bernadette beryl beth bethany betty beverley
    brenda brendan brian bridget bryony caitlin callum cameron carl caroline carolyn
    catherine cathy charles charlie charlotte chloe chris christina christine christopher claire
    clare colin connor craig cynthia dan daniel danny daphne darren dave david deborah debbie
    declan deirdre denise dennis derek diana diane donald donna doreen doris dorothy dougie
    douglas duncan dylan eddie edith edward eileen elaine eleanor elena elizabeth ella ellen
    ellie emily emma eric erin ethan eugene evelyn fiona florence frances francis freddie freya
    gail gareth gary gavin gemma geoffrey george georgia gerald geraldine gillian gladys glenn
    gordon graham gregory gwen hannah harold harriet harry harvey heidi helen henry hilary
    howard hugh ian imogen irene isaac isabel isabella isla jacqueline jake james jamie jane
    janet janice jason jayne jean jeff jeffrey jennifer jenny jeremy jessica jill jim
    jimmy joan joanne jodie joe joel john johnny jonathan joseph josh joshua joyce judith judy
    julia julian julie justin karen kate katherine kathleen kathryn katie keith kelly kenneth
    kerry kevin kieran kirsty kyle laura lauren leah leanne lee leo leon leonard lesley leslie
    liam linda lisa liz lizzie lorraine louise lucy luke lydia lynn lynne maggie malcolm mandy
    margaret maria marian marie marilyn marion marjorie martha martin mary matt matthew maureen
    megan melanie melissa michael michelle mick mike mildred millie molly monica morag muriel
    naomi natalie nathan neil niamh nicholas nicky nicola nigel noel nora norman oliver
    olivia owen pamela patricia patrick paul paula pauline pete peter phil philip phillip phoebe phyllis
    polly rachel ralph rebecca rhys richard rick rita robert roberta ron ronald ronnie rosemary ross
    ruth ryan sally sam samantha samuel sandra sarah scott sean shane sharon sheila shirley sian simon
    sinead siobhan sophie stacey stanley stephanie stephen steve steven stuart susan suzanne
    sylvia tanya ted teresa terence terry theresa thomas tim timothy tina toby tom tommy tony tracey
    tracy trevor valerie vanessa vera veronica vicky victoria vincent vivian walter wayne wendy
    william zoe
    """.split()
) | frozenset(
    # Short forms people write in notes ("kev said", "hiya lou"), added after the third
    # held-out set missed three of them.
    """
    abi babs bea becca bella bert bertie bev bex bobby brad chas chrissie chrissy debs dee
    del dom eddy fran fred gaz gerry ginny greg hattie izzy jacky jackie jen jess jessie jez
    jo jon jonny kat kath kev kez kim kris laurie les lexi lou lulu maddy mags marty matty mel
    mo nat ned nell nellie nikki ollie pam patsy rach ricky robbie ros rosie sal shaz
    sid stan stevie suze tash teddy tez tilly tori trev val vic viv wes zak
    """.split()
)

# Given names that are also everyday words: names only in a naming context.
EN_WORD_NAMES = frozenset(
    """
    amber april art autumn bill bob brook carol carter chase crystal daisy dawn dean don drew
    faith frank gene grace grant guy hazel heather herb holly hope hunter iris ivy jack jade jan
    jasmine jay joy june mark max may miles nick olive pat patience pearl penny ray rich rob robin roger
    rose ruby rusty sandy sky summer sunny sue victor violet wade will
    """.split()
)

# Common British surnames, many of them also words ("brown", "baker", "hill"): a surname after
# a lower-case first name ("kelly brown") even where Voikko does not know it as one.
EN_SURNAMES = frozenset(
    """
    smith jones williams taylor brown davies evans wilson thomas johnson roberts robinson thompson
    wright walker white edwards hughes green hall wood harris lewis martin jackson clarke clark
    turner hill scott cooper morris ward moore king watson baker harrison morgan patel young allen
    mitchell james anderson phillips lee bell parker davis miller shaw cook mason fisher carter
    knight stone marsh lamb fox grey gray mills price bennett griffiths kelly murphy campbell
    stewart reid ross murray hunter webb palmer lloyd butler russell barker bailey cox richards
    chapman dixon ellis fletcher gibson holmes howard hudson marshall matthews owen pearson rose
    simpson wells west
    """.split()
)

# Words right before a name when someone is greeted, thanked or addressed ("hei mikko",
# "thanks dave", "dear amy"); a name after them is a name even in lower case.
ADDRESSING = frozenset(
    """
    hei hej moi moikka morjens terve heippa heissan kiitos kiitti kiitokset terkut terveiset
    terveisin rakas
    hi hey hello hiya dear thanks thank cheers sorry bye
    """.split()
)

# Words between a greeting and the name ("kiitos paljon nea", "thanks so much becky", "thank
# you tom"): skipped when looking for the greeting.
INTENSIFIERS = frozenset("paljon kovasti tosi todella ihan vielä so very much a lot again you".split())

# Conjunctions that join two names ("Aleksi ja Emmi", "nea ja oona", "mark and ruth").
CONJUNCTIONS = frozenset("ja sekä tai and & or".split())

# Finnish possessives before a name in lower case ("meidän ella", "mun pekka").
FI_POSSESSIVES = frozenset("meidän meiän meijän minun mun teidän sun sinun hänen".split())

# English verbs after which a person is named ("asked rob", "told mark"): a given name that is
# also a word ("rose", "will") counts as a name after them, or after ADDRESSING, only. "with"
# and "and" are left out: "with hope", "bread and jam".
EN_NAME_BEFORE = frozenset(
    "asked told rang called phoned texted messaged emailed thanked met tell ask call ring text".split()
)

# English verbs before "to" or "with" and a name ("talked to jess", "spoke with rose"); not
# "went with", which goes as often with a word ("went with hope").
EN_TALKED = frozenset("talked talk talking spoke speak speaking chatted chat".split())
