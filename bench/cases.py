"""The benchmark's cases and their experiment files.

    python bench/cases.py list                 prints MODEL:LAYER per line
    python bench/cases.py experiments OUT_DIR  writes OUT_DIR/MODEL-LLAYER.json for every case
    python bench/cases.py target-model         the case the issues' targets are checked on (and the
    python bench/cases.py target-layer         live lab's benchmark runs): its model, its layer

An experiment is the lecture's (tests/e2e/experiments/lecture-L1.json: 34 words, 3 categories,
"The next word is {word}") with the case's layer and the hub model's id.
"""
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LECTURE = os.path.join(REPO, "tests", "e2e", "experiments", "lecture-L1.json")

# (model folder name, layer); the targets are checked on gpt2-medium L5.
CASES = [("gpt2-medium", 0), ("gpt2-medium", 5), ("gpt2-medium", 23), ("gpt2", 5)]
TARGET_CASE = ("gpt2-medium", 5)


def name(model, layer):
    return f"{model}-L{layer}"


def write_experiments(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    lecture = json.load(open(LECTURE))
    for model, layer in CASES:
        exp = dict(lecture, model=f"openai-community/{model}", layer=layer)
        with open(os.path.join(out_dir, name(model, layer) + ".json"), "w") as f:
            json.dump(exp, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["list"]:
        print("\n".join(f"{m}:{l}" for m, l in CASES))
    elif sys.argv[1:] == ["target-model"]:
        print(TARGET_CASE[0])
    elif sys.argv[1:] == ["target-layer"]:
        print(TARGET_CASE[1])
    elif sys.argv[1:2] == ["experiments"] and len(sys.argv) == 3:
        write_experiments(sys.argv[2])
    else:
        sys.exit(__doc__)
