//! The lecture notebook's PyTorch lines behind each step, quoted as code (the notebook is the
//! lab's specification; the page shows where each number comes from in it).

pub const HOOK: &str = "\
def implant_hook(layer_number):
  def hook(module, input, output):
    q,k,v = output.detach().split(model.config.n_embd,dim=2)
    activations[f'attn_{layer_number}_q'] = q.numpy()
    activations[f'attn_{layer_number}_k'] = k.numpy()
  return hook

model.transformer.h[layer2hook].attn.c_attn.register_forward_hook(implant_hook(layer2hook))";

pub const WORDS: &str = "\
# confirm that all words are one token
for w in words:
  print(tokenizer.encode(f'The next word is {w}'))";

pub const GROUP_MASK: &str = "\
groupmask = np.triu( group.T@group ,1)
plt.imshow(groupmask)";

pub const BATCH: &str = "\
batch = torch.zeros((len(words),5),dtype=torch.long)
for i,w in enumerate(words):
  batch[i,:] = torch.tensor(tokenizer.encode(f'The next word is {w}'))

with torch.no_grad(): model(batch)";

pub const COSINE: &str = "\
actsQ = activations['attn_5_q'][:,-1,:].squeeze()
actsQ /= np.linalg.norm(actsQ,axis=1,keepdims=True)
cs_actsQ = actsQ @ actsQ.T";

pub const HISTOGRAMS: &str = "\
yQ,xQ = np.histogram(cs_actsQ[np.nonzero(np.triu(cs_actsQ,1))],bins=20)
yK,xK = np.histogram(cs_actsK[np.nonzero(np.triu(cs_actsK,1))],bins=20)";

pub const SELECTIVITY: &str = "\
selectnum = ( cs_actsQ[groupmask==1].mean() + cs_actsQ[groupmask==4].mean() + cs_actsQ[groupmask==9].mean() ) /3
selectden = ( cs_actsQ[groupmask==2].mean() + cs_actsQ[groupmask==3].mean() + cs_actsQ[groupmask==6].mean() ) /3
selectIndexQ = selectnum/selectden";

pub const RSA: &str = "\
unique_Q = cs_actsQ[np.nonzero(np.triu(cs_actsQ,1))]
unique_K = cs_actsK[np.nonzero(np.triu(cs_actsK,1))]
r = np.corrcoef(unique_Q,unique_K)[0,1]";

pub const RSA_PER_CATEGORY: &str = "\
for i in range(3):
  unique_Q = cs_actsQ[groupmask==(i+1)**2]
  unique_K = cs_actsK[groupmask==(i+1)**2]
  r = np.corrcoef(unique_Q,unique_K)[0,1]";
